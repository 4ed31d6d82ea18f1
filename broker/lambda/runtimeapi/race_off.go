//go:build !race

package runtimeapi

// raceBuild is true when the tests run with the race detector; the
// function binaries are then built with it too.
const raceBuild = false
