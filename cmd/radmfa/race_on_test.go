//go:build race

package main

// raceDetector: the race detector's shadow memory multiplies a process's
// resident memory several times over.
const raceDetector = true
