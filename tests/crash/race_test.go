//go:build race

package crash

// raceEnabled: the server is built with the race detector too.
const raceEnabled = true
