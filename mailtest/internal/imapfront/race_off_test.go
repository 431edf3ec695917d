//go:build !race

package imapfront

const raceEnabled = false
