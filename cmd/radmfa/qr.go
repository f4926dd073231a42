package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"rsc.io/qr"
)

// qrQuiet is the white margin around a QR code, in modules.
const qrQuiet = 2

// qrFitLines is the most lines a QR code takes on an 80x24 terminal with
// the line above it.
const qrFitLines = 23

// drawQR draws uri as a QR code for a terminal: two modules a character
// (the upper half block, its foreground the upper module, its background
// the lower), in explicit black and white, so that it scans the same on
// light and dark terminals (a code drawn in the terminal's own colours
// comes out inverted on a dark one, which many apps cannot read). A
// default enrollment (TOTP, SHA1, 6 digits) takes 23 lines: it fits an
// 80x24 terminal; a longer URI is preceded by how many lines it needs.
func drawQR(w io.Writer, uri string) error {
	code, err := qr.Encode(uri, qr.L)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	if lines := (code.Size + 2*qrQuiet + 1) / 2; lines > qrFitLines {
		fmt.Fprintf(w, "(This QR code is %d lines high: enlarge the terminal to see it whole, or use --qr-png FILE.)\n", lines)
	}
	const black, white = 0, 1
	fg := [2]string{"30", "97"}
	bg := [2]string{"40", "107"}
	module := func(x, y int) int {
		if code.Black(x-qrQuiet, y-qrQuiet) {
			return black
		}
		return white
	}
	n := code.Size + 2*qrQuiet
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := range n {
			lower := white
			if y+1 < n {
				lower = module(x, y+1)
			}
			fmt.Fprintf(&b, "\x1b[%s;%sm▀", fg[module(x, y)], bg[lower])
		}
		b.WriteString("\x1b[0m\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// writeQRPNG writes uri as a QR code to a new PNG file, readable by its
// owner alone: it holds the token's secret. An existing file is not
// overwritten.
func writeQRPNG(path, uri string) error {
	code, err := qr.Encode(uri, qr.L)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	code.Scale = 8
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("--qr-png %s exists; give a new file (it will hold the token's secret)", path)
	}
	if err != nil {
		return fmt.Errorf("--qr-png: %w", err)
	}
	if _, err := f.Write(code.PNG()); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("--qr-png: %w", err)
	}
	return f.Close()
}
