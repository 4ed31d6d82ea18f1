package swarm

import "log/slog"

// LogDeadLetters logs each value of dlq (the dead-letter channel of an emit
// channel) as a warning and returns enq, for programs that have nothing
// better to do with values that could not be sent:
//
//	enq := swarm.LogDeadLetters(emit.Typed[Order](q))
//
// The log line names the type, never the value. The logging goroutine ends
// when the broker closes dlq.
func LogDeadLetters[T any](enq chan<- T, dlq <-chan T) chan<- T {
	name := TypeName[T]()
	go func() {
		for range dlq {
			slog.Warn("swarm: value could not be sent and was dead-lettered", "type", name)
		}
	}()
	return enq
}
