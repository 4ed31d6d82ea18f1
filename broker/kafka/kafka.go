// Package kafka carries swarm's typed channels over Apache Kafka, with the
// franz-go client.
//
// A swarm queue is a Kafka topic. Emitting produces records keyed by the
// message's category (or by an attribute, WithKeyAttr), so messages of one
// category keep their order within a partition. Listening joins a consumer
// group (default "swarm"): the group's members share the topic's partitions.
// The message id and the attributes travel as record headers, the category
// as the key (as a header too when the key is an attribute); the delivery
// attempt as a header the broker maintains.
//
// Kafka settles by committing an offset per partition, not per message. The
// broker commits, after acks, the contiguous prefix of acked records of each
// partition; an ack out of order is held until the gap before it fills.
// Kafka cannot redeliver a single record, so a Nack (a failed message, or one
// released at Close) produces the record again at the end of its topic with
// its attempt header incremented and counts the original as done: the
// message comes back at once with a higher Attempt, after the messages
// already behind it. Dead letters are produced to "<topic>.dlq" with their
// headers. Deliveries hold no lease (a slow handler keeps its message as long
// as its member stays in the group), and a Nack's delay is not honoured.
//
// Importing the package registers the URL scheme "kafka":
//
//	kafka://[user:password@]host:port[,host:port...]/topic?group=g&tls=true&sasl=SCRAM-SHA-256
//
// Query parameters: group, partitions, dlq (dead-letter topic), key (key
// attribute), tls (true/false), sasl (mechanism; the user and password come
// from the URL's user info).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is a connection to one Kafka topic: emit produces to it, listen
// consumes it in the broker's consumer group. It is safe for concurrent use.
type Broker struct {
	k *kernel.Kernel
}

// New connects to the Kafka cluster and opens topic, creating it (with the
// WithPartitions settings) if it does not exist. The consumer group is
// joined when the first listener starts. It fails with swarm.ErrConfig when
// an option is invalid, and with an error naming the seed brokers when the
// cluster cannot be reached within the setup timeout.
func New(topic string, opts ...Option) (*Broker, error) {
	c := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if c.deadLetter == "" {
		c.deadLetter = topic + ".dlq"
	}
	if err := c.validate(topic); err != nil {
		return nil, fmt.Errorf("%w: kafka: %w", swarm.ErrConfig, err)
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	producer, err := kgo.NewClient(c.producerOpts()...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka: client for %s: %w", swarm.ErrConfig, where(c, topic), err)
	}
	d := newDriver(c, cfg, topic, producer)
	if c.createTopics {
		ctx, cancel := context.WithTimeout(context.Background(), c.setupTimeout)
		err := d.ensureTopic(ctx, topic)
		cancel()
		if err != nil {
			producer.Close()
			return nil, err
		}
	}
	d.k = kernel.New(cfg, "kafka://"+strings.Join(c.brokers, ",")+"/"+topic, d)
	return &Broker{k: d.k}, nil
}

// Close flushes emits, releases unsettled deliveries (produced again so that
// another member gets them at once), commits what was acked, leaves the
// consumer group and closes the clients.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

// where names the cluster and topic in errors, without credentials.
func where(c config, topic string) string {
	return fmt.Sprintf("topic %q on %s", topic, strings.Join(c.brokers, ","))
}

// ensureTopic creates topic unless it exists.
func (d *driver) ensureTopic(ctx context.Context, topic string) error {
	adm := kadm.NewClient(d.producer)
	_, err := adm.CreateTopic(ctx, d.c.partitions, d.c.replication, nil, topic)
	if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	if ctx.Err() != nil {
		// The client retried until the deadline; one ping tells why it
		// failed (refused, TLS, authentication) better than the deadline.
		pctx, cancel := context.WithTimeout(context.Background(), d.c.dialTimeout)
		if perr := d.producer.Ping(pctx); perr != nil {
			err = perr
		}
		cancel()
		return fmt.Errorf("kafka: cannot reach or authenticate to the cluster to create %s within %v: %w",
			where(d.c, topic), d.c.setupTimeout, err)
	}
	return fmt.Errorf("kafka: create %s: %w", where(d.c, topic), err)
}

func init() {
	swarm.Register("kafka", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		topic, o, err := fromURL(u)
		if err != nil {
			return nil, err
		}
		return New(topic, append(o, WithKernel(opts...))...)
	})
}

// fromURL reads a kafka:// URL into a topic and options. Its errors never
// hold the password.
func fromURL(u *url.URL) (string, []Option, error) {
	bad := func(format string, args ...any) (string, []Option, error) {
		return "", nil, fmt.Errorf("%w: kafka URL: %s", swarm.ErrConfig, fmt.Sprintf(format, args...))
	}
	topic := strings.TrimPrefix(u.Path, "/")
	if topic == "" || strings.Contains(topic, "/") {
		return bad("want kafka://host:port/topic, the path %q is not one topic name", u.Path)
	}
	var opts []Option
	if u.Host != "" {
		opts = append(opts, WithBrokers(strings.Split(u.Host, ",")...))
	}
	q := u.Query()
	for key := range q {
		switch key {
		case "group", "partitions", "dlq", "key", "tls", "sasl":
		default:
			return bad("unknown parameter %q (known: group, partitions, dlq, key, tls, sasl)", key)
		}
	}
	if g := q.Get("group"); g != "" {
		opts = append(opts, WithGroup(g))
	}
	if p := q.Get("partitions"); p != "" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return bad("partitions=%q is not a number", p)
		}
		opts = append(opts, WithPartitions(int32(n), -1))
	}
	if v := q.Get("dlq"); v != "" {
		opts = append(opts, WithDeadLetterTopic(v))
	}
	if v := q.Get("key"); v != "" {
		opts = append(opts, WithKeyAttr(v))
	}
	if v := q.Get("tls"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return bad("tls=%q is not true or false", v)
		}
		if on {
			opts = append(opts, WithTLS(nil))
		}
	}
	mech := q.Get("sasl")
	if u.User != nil {
		pass, _ := u.User.Password()
		if mech == "" {
			mech = SASLScramSHA512
		}
		opts = append(opts, WithSASL(mech, u.User.Username(), pass))
	} else if mech != "" {
		return bad("sasl=%s needs user:password@ in the URL", mech)
	}
	return topic, opts, nil
}
