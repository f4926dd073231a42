package store_test

import (
	"bytes"
	"testing"

	"github.com/radmfa/radmfa/store"
)

// A rotation's keys: staged, the new key seals and both open; re-sealed,
// a value opens with the new key alone; Only drops the old one.
func TestSealerRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, store.KeySize), bytes.Repeat([]byte{2}, store.KeySize)
	s, err := store.NewSealer(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Seal([]byte("seed"), store.SeedAD("T1"))
	if err := s.Stage(newKey); err != nil {
		t.Fatal(err)
	}
	during, _ := s.Seal([]byte("seed2"), store.SeedAD("T2"))
	for name, v := range map[string][]byte{"sealed before": before, "sealed during": during} {
		if _, err := s.Open(v, map[string]string{"sealed before": store.SeedAD("T1"), "sealed during": store.SeedAD("T2")}[name]); err != nil {
			t.Fatalf("%s does not open while staged: %v", name, err)
		}
	}
	resealed, err := s.Reseal(before, store.SeedAD("T1"))
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, _ := store.NewSealer(newKey)
	onlyOld, _ := store.NewSealer(oldKey)
	for name, v := range map[string][]byte{"resealed": resealed, "sealed during": during} {
		ad := store.SeedAD("T1")
		if name == "sealed during" {
			ad = store.SeedAD("T2")
		}
		if _, err := onlyNew.Open(v, ad); err != nil {
			t.Fatalf("%s does not open with the new key: %v", name, err)
		}
		if _, err := onlyOld.Open(v, ad); err == nil {
			t.Fatalf("%s opens with the old key", name)
		}
	}
	if err := s.Only(newKey); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(before, store.SeedAD("T1")); err == nil {
		t.Fatal("after Only, the old key still opens")
	}
	if store.KeyFingerprint(newKey) == store.KeyFingerprint(oldKey) || len(store.KeyFingerprint(newKey)) != 16 {
		t.Fatal("fingerprints")
	}
}
