// Package unencoded carries typed values through a driver that keeps them
// in process (kernel.Capabilities.Values), so that the emitter need not
// encode them nor the listener decode them.
package unencoded

import (
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Value is an emitted object and the codec that would have encoded it.
type Value[T any] struct {
	Object T
	Codec  swarm.Codec[T]
}

// Encode returns the payload the codec gives the object.
func (v *Value[T]) Encode() ([]byte, error) { return v.Codec.Encode(v.Object) }

// Decode returns the object env carries, for a listener of T decoding with
// codec: the emitted object itself when it was emitted as a T with the same
// codec, else what codec decodes from the payload, which a value is asked
// for first.
func Decode[T any](codec swarm.Codec[T], env *kernel.Envelope) (T, error) {
	if env.Value == nil {
		return codec.Decode(env.Payload)
	}
	// The codecs compared are the emitter's and the listener's built-in
	// ones, which are comparable; a codec of another dynamic type compares
	// unequal without panicking.
	if v, ok := env.Value.(*Value[T]); ok && v.Codec == codec {
		return v.Object, nil
	}
	b, err := env.Value.Encode()
	if err != nil {
		var zero T
		return zero, err
	}
	return codec.Decode(b)
}
