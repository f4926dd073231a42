package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"rsc.io/qr"
)

var qrCell = regexp.MustCompile(`\x1b\[(30|97);(40|107)m▀`)

// termModules reads the modules back out of drawQR's output: true is
// black.
func termModules(t *testing.T, out string) [][]bool {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		cells := qrCell.FindAllStringSubmatch(line, -1)
		if len(cells) == 0 {
			continue
		}
		top, bottom := make([]bool, len(cells)), make([]bool, len(cells))
		for i, c := range cells {
			top[i], bottom[i] = c[1] == "30", c[2] == "40"
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

// The QR code of an enrollment fits an 80x24 terminal, is drawn in
// explicit black on white (the same on light and dark terminals, never
// inverted), holds exactly the URI's code, and --qr-png writes it to a
// new 0600 file.
func TestQRCode(t *testing.T) {
	e := newCLI(t)
	e.ok("user", "add", "quinn.smith")
	png1 := filepath.Join(t.TempDir(), "enroll.png")
	out := e.ok("token", "enroll", "quinn.smith", "--qr-png", png1)
	uri := regexp.MustCompile(`URI:\s+(\S+)`).FindStringSubmatch(out)[1]
	code, err := qr.Encode(uri, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	rows := termModules(t, out)
	lines := (len(rows) + 1) / 2
	if lines > qrFitLines || len(rows[0]) > 80 || strings.Contains(out, "lines high") {
		t.Fatalf("the QR code takes %d lines of %d columns: it must fit 80x24", lines, len(rows[0]))
	}
	tail := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !qrCell.MatchString(tail[len(tail)-1]) {
		t.Fatal("the QR code is not the last thing printed (an 80x24 terminal would scroll part of it away)")
	}
	for y := range code.Size + 2*qrQuiet {
		for x := range code.Size + 2*qrQuiet {
			if rows[y][x] != code.Black(x-qrQuiet, y-qrQuiet) {
				t.Fatalf("module (%d,%d) drawn %v, the code has %v", x, y, rows[y][x], !rows[y][x])
			}
		}
	}
	fi, err := os.Stat(png1)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--qr-png file: %v %v, want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(png1)
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	scale := img.Bounds().Dx() / (code.Size + 8) // rsc.io/qr draws a 4-module margin
	for y := range code.Size {
		for x := range code.Size {
			r, _, _, _ := img.At((x+4)*scale+scale/2, (y+4)*scale+scale/2).RGBA()
			if (r == 0) != code.Black(x, y) {
				t.Fatalf("PNG module (%d,%d) wrong", x, y)
			}
		}
	}
	if _, errs, code := e.run("token", "enroll", "quinn.smith", "--qr-png", png1); code != 1 || !strings.Contains(errs, "exists") {
		t.Fatalf("--qr-png onto an existing file: %d %q", code, errs)
	}
	// A URI too long for 24 lines says so.
	long := e.ok("token", "enroll", "quinn.smith", "--digits", "8", "--algorithm", "SHA512")
	if !regexp.MustCompile(`This QR code is \d+ lines high: enlarge the terminal .* or use --qr-png FILE`).MatchString(long) {
		t.Fatalf("a long URI's QR code without a word about its size:\n%s", long)
	}
}
