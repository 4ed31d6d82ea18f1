package memory

// fifo holds a queue's ready items in order. It keeps them as runs: the
// slab of items one put stored (one entry per batch, so a growing backlog
// costs no copying or pointer write per message), or the items put back
// at the front for redelivery.
type fifo struct {
	runs []run // oldest first, from head
	head int
	n    int // items held
}

// run is consecutive ready items: a slab's, or put back ones.
type run struct {
	slab []item
	back []*item
}

func (f *fifo) len() int { return f.n }

// push appends the items of slab, in order.
func (f *fifo) push(slab []item) {
	if len(slab) == 0 {
		return
	}
	if f.head > 0 && f.head >= len(f.runs)/2 {
		// A queue that never empties would otherwise keep every run it
		// ever held in front of head.
		n := copy(f.runs, f.runs[f.head:])
		clear(f.runs[n:])
		f.runs, f.head = f.runs[:n], 0
	}
	f.runs = append(f.runs, run{slab: slab})
	f.n += len(slab)
}

// pushFront puts its before every item held, in their order.
func (f *fifo) pushFront(its []*item) {
	if len(its) == 0 {
		return
	}
	back := append([]*item(nil), its...)
	if f.head > 0 {
		f.head--
		f.runs[f.head] = run{back: back}
	} else {
		f.runs = append([]run{{back: back}}, f.runs...)
	}
	f.n += len(its)
}

// pop removes up to max items from the front, in order, calling fn on each.
func (f *fifo) pop(max int, fn func(*item)) {
	for max > 0 && f.head < len(f.runs) {
		r := &f.runs[f.head]
		for max > 0 && len(r.slab) > 0 {
			fn(&r.slab[0])
			r.slab = r.slab[1:]
			max--
			f.n--
		}
		for max > 0 && len(r.back) > 0 {
			fn(r.back[0])
			r.back[0] = nil
			r.back = r.back[1:]
			max--
			f.n--
		}
		if len(r.slab) == 0 && len(r.back) == 0 {
			*r = run{}
			f.head++
		}
	}
	if f.head == len(f.runs) {
		f.runs, f.head = f.runs[:0], 0
	}
}

// list is the items in flight, in the order they were taken, linked
// through the items themselves: taking and settling a delivery costs two
// pointer updates instead of a map insert and delete.
type list struct {
	head, tail *item
	n          int
}

func (l *list) first() *item { return l.head }

// add appends it, which must not be in a list.
func (l *list) add(it *item) {
	it.prev, it.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = it
	} else {
		l.head = it
	}
	l.tail = it
	l.n++
}

// remove unlinks it, which must be in l.
func (l *list) remove(it *item) {
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		l.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		l.tail = it.prev
	}
	it.prev, it.next = nil, nil
	l.n--
}
