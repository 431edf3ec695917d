package web

// SetWaitHook makes h call f each time a wait request has registered its
// watcher, so a benchmark can deliver exactly after that.
func SetWaitHook(h *Handler, f func()) { h.waitWatching = f }
