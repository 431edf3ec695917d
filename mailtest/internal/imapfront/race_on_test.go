//go:build race

package imapfront

const raceEnabled = true
