package redis

import (
	"context"
	"errors"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// trimEvery is how many entries are acked between two trims of the stream.
// The first ack of a broker trims at once (New starts the count there), so
// a server refusing the trim is found before anything is left behind.
// A trim costs the server about as much as deleting a handful of entries
// one by one (XDEL, about 1 µs each), so trimming once per thousand acks
// costs next to nothing, and bounds what lingers to about that many acked
// entries plus the partly acked node of the stream (at most 100 entries,
// stream-node-max-entries).
const trimEvery = 1024

// trimScript trims the stream KEYS[1] below the oldest entry any of its
// consumer groups still needs, and returns how many entries went.
//
// A group needs every entry after its last-delivered-id (not delivered
// yet) and every entry in its pending entries list (delivered and not
// acked: being handled, released by Nack, held for a delayed redelivery,
// left by a dead consumer, or not yet copied to the dead-letter stream).
// The oldest entry a group needs is the older of its oldest pending one
// and the first id after its last-delivered-id ("ms-seq" with seq one up;
// the last possible seq keeps the last-delivered entry rather than carry).
//
// Taking the minimum over all groups keeps what any group of the stream has
// yet to read. A stream without a group, or gone, is left alone.
//
// MINID ~ removes whole stream nodes only, which is what makes the trim
// cheap: entries of the node holding the minimum stay until a later trim.
// Everything runs in one script so no XREADGROUP, XACK or XGROUP SETID
// comes between reading the groups and trimming.
//
// Ids are handled as decimal strings (canonical, no leading zeros): Lua
// numbers are doubles and would round ids past 2^53.
var trimScript = goredis.NewScript(`
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
local function after(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then return id end
  local i = #seq
  while i > 0 and string.sub(seq, i, i) == '9' do i = i - 1 end
  if i == 0 then return ms .. '-1' .. string.rep('0', #seq) end
  return ms .. '-' .. string.sub(seq, 1, i - 1) .. string.char(string.byte(seq, i) + 1) .. string.rep('0', #seq - i)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local low = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, need
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then need = g[i + 1] end
  end
  if not name or not need then return 0 end
  local p = redis.call('XPENDING', KEYS[1], name)
  need = after(need)
  if p[1] > 0 and less(p[2], need) then need = p[2] end
  if not low or less(need, low) then low = need end
end
if not low then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', low)
`)

// trimDue counts n acked entries and, when trimEvery have gathered since
// the last trim, takes their count for the trim that settle runs;
// otherwise it returns 0. WithKeepAcked never trims.
func (d *driver) trimDue(n int) int64 {
	if !d.deleteAcks || d.untrimmed.Add(int64(n)) < trimEvery {
		return 0
	}
	return d.untrimmed.Swap(0) // 0 when a concurrent ack took them
}

// trimmed handles the reply of a trim and reports whether the server
// refused it. A trim is housekeeping: its failure never fails an ack. The
// count is put back so that a later ack tries again, except when the server
// refuses the script (an ACL without scripting, a server older than 6.2
// without XTRIM MINID): trimming is then off for good, and acks delete
// their entries with XDEL instead.
func (d *driver) trimmed(ctx context.Context, cmd *goredis.Cmd, count int64) bool {
	err := cmd.Err()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		// A pipelined EVALSHA cannot fall back to EVAL as Script.Run does.
		err = trimScript.Eval(ctx, d.c, []string{d.stream}).Err() // loads it
	}
	if err == nil {
		return false
	}
	if refused(err) {
		d.trimOff.Store(true)
		return true
	}
	d.untrimmed.Add(count)
	return false
}

// trimIdle trims when acked entries wait for a trim: called when the
// stream has nothing new, and on Close, so that entries acked after the
// last trim do not linger once traffic stops.
func (d *driver) trimIdle(ctx context.Context) {
	if !d.deleteAcks || d.trimOff.Load() || d.untrimmed.Load() == 0 {
		return
	}
	count := d.untrimmed.Swap(0)
	if count == 0 {
		return
	}
	_ = d.trimmed(ctx, trimScript.Run(ctx, d.c, []string{d.stream}), count)
}

// refused tells a server's refusal to run the trim (an ERR or NOPERM
// reply: no scripting, an unknown command or argument) from a failure a
// later trim may not meet (the connection, the context, a server busy,
// loading or failing over).
func refused(err error) bool {
	var re goredis.Error
	if !errors.As(err, &re) {
		return false
	}
	return strings.HasPrefix(re.Error(), "ERR") || strings.HasPrefix(re.Error(), "NOPERM")
}
