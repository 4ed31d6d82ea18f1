package swarm

import (
	"encoding/json"
	"reflect"
)

// Codec turns values of T into payloads and back, and names the category its
// messages travel under. Its methods are called from several goroutines at
// once (a listener decodes a large batch on every core), so they must be
// safe for concurrent use, as stateless codecs are.
type Codec[T any] interface {
	// Category is the category of the messages.
	Category() string
	// Encode returns the payload of v.
	Encode(v T) ([]byte, error)
	// Decode returns the value of payload.
	Decode(payload []byte) (T, error)
}

// TypeName is the default category of T: the name of the type, or of the
// type it points to, without its package ("Order" for main.Order and
// *main.Order). Generic types keep their arguments as Go prints them.
func TypeName[T any]() string {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

// TypeKey identifies T fully (package path and name), to detect two types
// that claim one category.
func TypeKey[T any]() string {
	t := reflect.TypeFor[T]()
	if t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

// NewCodecJSON is the JSON codec of T under category ("" for TypeName[T]).
func NewCodecJSON[T any](category string) Codec[T] {
	if category == "" {
		category = TypeName[T]()
	}
	return jsonCodec[T](category)
}

type jsonCodec[T any] string

func (c jsonCodec[T]) Category() string { return string(c) }

func (c jsonCodec[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

func (c jsonCodec[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// NewCodecBytes is the identity codec of octet streams under category.
func NewCodecBytes(category string) Codec[[]byte] {
	if category == "" {
		panic("swarm: NewCodecBytes needs a category name")
	}
	return bytesCodec(category)
}

type bytesCodec string

func (c bytesCodec) Category() string { return string(c) }

func (c bytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }

func (c bytesCodec) Decode(b []byte) ([]byte, error) { return b, nil }

// ChanOption configures one typed channel made by emit or listen.
type ChanOption func(*ChanConfig)

// ChanConfig is what ChanOptions set.
type ChanConfig struct {
	// Category overrides the type's default category.
	Category string
}

// Category sends or receives a type under name instead of its type name:
// emit.Typed[Order](q, swarm.Category("orders.v2")). Emitter and listener
// must agree on it.
func Category(name string) ChanOption {
	return func(c *ChanConfig) { c.Category = name }
}

// NewChanConfig applies opts.
func NewChanConfig(opts []ChanOption) ChanConfig {
	var c ChanConfig
	for _, opt := range opts {
		opt(&c)
	}
	return c
}
