package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseQueue(t *testing.T, open opener) {
	t.Run("CreateThenExisting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)

		res, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{
			Key:        key("orders"),
			Attributes: map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "5"},
			Tags:       map[string]string{"team": "billing"},
			Now:        base,
		})
		require.NoError(t, err)
		require.True(t, res.Created)
		q := res.Queue
		require.NotZero(t, q.ID)
		require.Equal(t, key("orders"), q.Key)
		require.Equal(t, map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "5"}, q.Attributes)
		require.Equal(t, map[string]string{"team": "billing"}, q.Tags)
		requireTime(t, base, q.CreatedAt, "CreatedAt")
		requireTime(t, base, q.ModifiedAt, "ModifiedAt")

		again, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{
			Key:        key("orders"),
			Attributes: map[string]string{"VisibilityTimeout": "99"},
			Tags:       map[string]string{"team": "other"},
			Now:        at(time.Minute),
		})
		require.NoError(t, err)
		require.False(t, again.Created)
		require.Equal(t, q.ID, again.Queue.ID)
		require.Equal(t, map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "5"}, again.Queue.Attributes,
			"creating an existing queue must not overwrite its attributes")
		require.Equal(t, map[string]string{"team": "billing"}, again.Queue.Tags)
		requireTime(t, base, again.Queue.CreatedAt, "CreatedAt")
		requireTime(t, base, again.Queue.ModifiedAt, "ModifiedAt")

		got, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: key("orders")})
		require.NoError(t, err)
		require.Equal(t, q.ID, got.ID)
		require.Equal(t, key("orders"), got.Key)
		require.Equal(t, map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "5"}, got.Attributes)
		require.Equal(t, map[string]string{"team": "billing"}, got.Tags)
		requireTime(t, base, got.CreatedAt, "CreatedAt")
	})

	t.Run("CreateCopiesParams", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		attrs := map[string]string{"VisibilityTimeout": "30"}
		tags := map[string]string{"team": "a"}
		_, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: key("q"), Attributes: attrs, Tags: tags, Now: base})
		require.NoError(t, err)
		attrs["VisibilityTimeout"] = "1"
		tags["team"] = "b"

		got, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: key("q")})
		require.NoError(t, err)
		require.Equal(t, "30", got.Attributes["VisibilityTimeout"])
		require.Equal(t, "a", got.Tags["team"])
	})

	t.Run("GetMissing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: key("nope")})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})

	t.Run("IDsUnique", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		seen := map[uint64]string{}
		for _, k := range []engine.QueueKey{
			{Account: "111111111111", Name: "a"},
			{Account: "111111111111", Name: "b"},
			{Account: "222222222222", Name: "a"},
			{Account: "222222222222", Name: "c"},
		} {
			res, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: k, Now: base})
			require.NoError(t, err)
			require.True(t, res.Created)
			require.NotContains(t, seen, res.Queue.ID, "queue ID reused")
			seen[res.Queue.ID] = k.Name
		}
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		for _, k := range []engine.QueueKey{
			{Account: "111111111111", Name: "b-two"},
			{Account: "111111111111", Name: "c"},
			{Account: "111111111111", Name: "a-one"},
			{Account: "111111111111", Name: "b-one"},
			{Account: "111111111111", Name: "B-upper"},
			{Account: "222222222222", Name: "b-other"},
		} {
			_, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: k, Now: base})
			require.NoError(t, err)
		}
		list := func(account, prefix string) []string {
			t.Helper()
			qs, err := b.eng.QueueList(b.ctx, &engine.QueueListParams{Account: account, Prefix: prefix})
			require.NoError(t, err)
			names := make([]string, 0, len(qs))
			for _, q := range qs {
				require.Equal(t, account, q.Key.Account)
				names = append(names, q.Key.Name)
			}
			return names
		}
		require.Equal(t, []string{"B-upper", "a-one", "b-one", "b-two", "c"}, list("111111111111", ""))
		require.Equal(t, []string{"b-one", "b-two"}, list("111111111111", "b-"))
		require.Equal(t, []string{"c"}, list("111111111111", "c"))
		require.Empty(t, list("111111111111", "zzz"))
		require.Equal(t, []string{"b-other"}, list("222222222222", ""))
		require.Empty(t, list("333333333333", ""))
	})

	t.Run("AccountsIsolated", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		k1 := engine.QueueKey{Account: "111111111111", Name: "shared"}
		k2 := engine.QueueKey{Account: "222222222222", Name: "shared"}
		r1, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: k1, Attributes: map[string]string{"A": "1"}, Now: base})
		require.NoError(t, err)
		r2, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: k2, Attributes: map[string]string{"A": "2"}, Now: base})
		require.NoError(t, err)
		require.True(t, r2.Created, "same name in another account is another queue")
		require.NotEqual(t, r1.Queue.ID, r2.Queue.ID)

		// Messages do not cross accounts.
		b.send(t, r1.Queue, base, "for account 1")
		b.receiveNone(t, r2.Queue, base)

		require.NoError(t, b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: k1, Now: base}))
		got, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: k2})
		require.NoError(t, err)
		require.Equal(t, r2.Queue.ID, got.ID)
		require.Equal(t, "2", got.Attributes["A"])
		_, err = b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: k1})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})

	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		res, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{
			Key:        key("q"),
			Attributes: map[string]string{"A": "1", "B": "2"},
			Tags:       map[string]string{"t1": "x"},
			Now:        base,
		})
		require.NoError(t, err)
		id := res.Queue.ID

		// Tags only: ModifiedAt stays.
		q, err := b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{
			Key: key("q"), Now: at(time.Second),
			SetTags: map[string]string{"t2": "y"}, RemoveTags: []string{"t1"},
		})
		require.NoError(t, err)
		require.Equal(t, id, q.ID)
		require.Equal(t, map[string]string{"t2": "y"}, q.Tags)
		require.Equal(t, map[string]string{"A": "1", "B": "2"}, q.Attributes)
		requireTime(t, base, q.ModifiedAt, "tag changes must not touch ModifiedAt")

		// Attributes: ModifiedAt moves, CreatedAt stays.
		q, err = b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{
			Key: key("q"), Now: at(2 * time.Second),
			RemoveAttributes: []string{"B"}, SetAttributes: map[string]string{"C": "3", "A": "10"},
		})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"A": "10", "C": "3"}, q.Attributes)
		require.Equal(t, map[string]string{"t2": "y"}, q.Tags)
		requireTime(t, at(2*time.Second), q.ModifiedAt, "ModifiedAt")
		requireTime(t, base, q.CreatedAt, "CreatedAt")

		// An update that changes nothing keeps ModifiedAt.
		q, err = b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{Key: key("q"), Now: at(3 * time.Second)})
		require.NoError(t, err)
		requireTime(t, at(2*time.Second), q.ModifiedAt, "empty update must not touch ModifiedAt")

		// Removals are applied before sets.
		q, err = b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{
			Key: key("q"), Now: at(4 * time.Second),
			RemoveAttributes: []string{"A"}, SetAttributes: map[string]string{"A": "99"},
			RemoveTags: []string{"t2"}, SetTags: map[string]string{"t2": "z"},
		})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"A": "99", "C": "3"}, q.Attributes)
		require.Equal(t, map[string]string{"t2": "z"}, q.Tags)

		// Removing everything.
		q, err = b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{
			Key: key("q"), Now: at(5 * time.Second),
			RemoveAttributes: []string{"A", "C", "absent"}, RemoveTags: []string{"t2"},
		})
		require.NoError(t, err)
		require.Empty(t, q.Attributes)
		require.Empty(t, q.Tags)
		requireTime(t, at(5*time.Second), q.ModifiedAt, "ModifiedAt")

		got, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: key("q")})
		require.NoError(t, err)
		require.Equal(t, id, got.ID)
		require.Empty(t, got.Attributes)
		require.Empty(t, got.Tags)
		requireTime(t, at(5*time.Second), got.ModifiedAt, "ModifiedAt")
		requireTime(t, base, got.CreatedAt, "CreatedAt")

		lst, err := b.eng.QueueList(b.ctx, &engine.QueueListParams{Account: testAccount})
		require.NoError(t, err)
		require.Len(t, lst, 1)
		requireTime(t, at(5*time.Second), lst[0].ModifiedAt, "listed ModifiedAt")
	})

	t.Run("UpdateKeepsMessages", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		sent := b.send(t, q, base, "kept")
		_, err := b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{
			Key: q.Key, Now: at(time.Second), SetAttributes: map[string]string{"VisibilityTimeout": "60"},
		})
		require.NoError(t, err)
		got := b.receiveOne(t, q, at(time.Second), at(time.Minute))
		require.Equal(t, sent[0].ID, got.Message.ID)
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.eng.QueueUpdate(b.ctx, &engine.QueueUpdateParams{
			Key: key("nope"), Now: base, SetAttributes: map[string]string{"A": "1"},
		})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
		_, err = b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: key("nope")})
		require.ErrorIs(t, err, engine.ErrQueueNotFound, "updating a missing queue must not create it")
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "doomed")
		other := b.createQueue(t, "other")
		b.send(t, q, base, "a", "b")
		b.send(t, other, base, "survivor")
		rm := b.receiveOne(t, q, base, at(time.Hour))

		require.NoError(t, b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: q.Key, Now: at(time.Second)}))

		_, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: q.Key})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
		lst, err := b.eng.QueueList(b.ctx, &engine.QueueListParams{Account: testAccount})
		require.NoError(t, err)
		require.Len(t, lst, 1)
		require.Equal(t, other.ID, lst[0].ID)
		require.ErrorIs(t, b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: q.Key, Now: at(2 * time.Second)}),
			engine.ErrQueueNotFound, "second delete")
		requireQueueGone(t, b, q, rm.Receipt)
		_, err = b.eng.QueueStats(b.ctx, &engine.QueueStatsParams{Key: q.Key, Now: at(time.Hour)})
		require.ErrorIs(t, err, engine.ErrQueueNotFound, "QueueStats")
		err = b.eng.QueuePurge(b.ctx, &engine.QueuePurgeParams{Key: q.Key, Now: at(time.Hour)})
		require.ErrorIs(t, err, engine.ErrQueueNotFound, "QueuePurge")

		// The other queue is untouched.
		b.requireStats(t, other, at(time.Hour), 1, 0, 0)
	})

	t.Run("DeleteMissing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		err := b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: key("nope"), Now: base})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})

	t.Run("DeletedCooldown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		const cooldown = 60 * time.Second
		q := b.createQueue(t, "q")
		b.send(t, q, base, "old")
		old := b.receiveOne(t, q, base, at(time.Hour))
		deletedAt := at(10 * time.Second)
		require.NoError(t, b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: q.Key, Now: deletedAt}))

		create := func(now time.Time) (*engine.QueueCreateResult, error) {
			return b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{
				Key: q.Key, Now: now, DeletedCooldown: cooldown,
				Attributes: map[string]string{"New": "yes"},
			})
		}
		_, err := create(deletedAt)
		require.ErrorIs(t, err, engine.ErrQueueDeletedRecently)
		_, err = create(deletedAt.Add(cooldown - time.Millisecond))
		require.ErrorIs(t, err, engine.ErrQueueDeletedRecently)
		_, err = b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: q.Key})
		require.ErrorIs(t, err, engine.ErrQueueNotFound, "a refused create must not create")

		// Other names and other accounts are not affected.
		_, err = b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: key("q2"), Now: deletedAt, DeletedCooldown: cooldown})
		require.NoError(t, err)
		_, err = b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{
			Key: engine.QueueKey{Account: "999999999999", Name: "q"}, Now: deletedAt, DeletedCooldown: cooldown,
		})
		require.NoError(t, err)

		res, err := create(deletedAt.Add(cooldown))
		require.NoError(t, err)
		require.True(t, res.Created)
		require.NotEqual(t, q.ID, res.Queue.ID, "a recreated queue must get a new ID")
		require.Equal(t, map[string]string{"New": "yes"}, res.Queue.Attributes)
		requireTime(t, deletedAt.Add(cooldown), res.Queue.CreatedAt, "CreatedAt")

		// The new queue starts empty, and the old queue's ID still names nothing.
		b.requireStats(t, res.Queue, deletedAt.Add(2*cooldown), 0, 0, 0)
		b.receiveNone(t, res.Queue, at(2*time.Hour))
		requireQueueGone(t, b, q, old.Receipt)
	})

	t.Run("RecreateWithoutCooldown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		require.NoError(t, b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: q.Key, Now: base}))
		res, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: q.Key, Now: base})
		require.NoError(t, err, "zero DeletedCooldown disables the check")
		require.True(t, res.Created)
		require.NotEqual(t, q.ID, res.Queue.ID)
		_, err = b.eng.MessageSend(b.ctx, &engine.MessageSendParams{
			QueueID: q.ID, Now: base,
			Entries: []engine.MessageSendEntry{{Message: newMessage("x", base), VisibleAt: base}},
		})
		require.ErrorIs(t, err, engine.ErrQueueNotFound, "the old ID must not reach the new queue")
		b.requireStats(t, res.Queue, base, 0, 0, 0)
	})
}

// requireQueueGone checks that every operation on a deleted queue fails with ErrQueueNotFound.
func requireQueueGone(t *testing.T, b *testBundle, q *engine.Queue, r engine.Receipt) {
	t.Helper()
	now := at(time.Hour)
	_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{
		QueueID: q.ID, Now: now,
		Entries: []engine.MessageSendEntry{{Message: newMessage("late", now), VisibleAt: now}},
	})
	require.ErrorIs(t, err, engine.ErrQueueNotFound, "MessageSend")
	_, err = b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: q.ID, Now: now, Max: 10, VisibleAt: now.Add(time.Minute)})
	require.ErrorIs(t, err, engine.ErrQueueNotFound, "MessageReceive")
	_, err = b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: now, Receipts: []engine.Receipt{r}})
	require.ErrorIs(t, err, engine.ErrQueueNotFound, "MessageDelete")
	_, err = b.eng.MessageChangeVisibility(b.ctx, &engine.MessageChangeVisibilityParams{
		QueueID: q.ID, Now: now, Entries: []engine.VisibilityChange{{Receipt: r, VisibleAt: now}},
	})
	require.ErrorIs(t, err, engine.ErrQueueNotFound, "MessageChangeVisibility")
}
