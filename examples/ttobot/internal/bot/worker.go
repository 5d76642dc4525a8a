package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"ttobot/internal/cohort"
	"ttobot/internal/slack"
	"ttobot/internal/store"
)

// Handle acts on one queued delivery. A nil error means the delivery is done (acted on, or
// refused with a message to the member) and may be deleted from the queue; an error leaves
// it for redelivery. Redeliveries of a finished delivery are recognised by its key.
func (b *Bot) Handle(ctx context.Context, env *Envelope) error {
	done, err := b.Store.DeliveryProcessed(ctx, env.Key)
	if err != nil {
		return err
	}
	if done {
		b.Log.Debug("delivery already processed", "key", env.Key)
		return nil
	}
	switch env.Kind {
	case KindCommand:
		err = b.handleCommand(ctx, env)
	case KindInteraction:
		err = b.handleInteraction(ctx, env)
	case KindEvent:
		err = b.handleEvent(ctx, env)
	default:
		b.Log.Error("unknown delivery kind; dropped", "kind", env.Kind, "key", env.Key)
		return nil
	}
	if err != nil {
		return err
	}
	if err := b.Store.MarkDelivery(ctx, env.Key, b.Clock.Now()); err != nil && !errors.Is(err, store.ErrDuplicateDelivery) {
		return err
	}
	return nil
}

func (b *Bot) handleCommand(ctx context.Context, env *Envelope) error {
	cmd, err := slack.ParseSlashCommand([]byte(env.Body))
	if err != nil {
		b.Log.Error("bad queued command; dropped", "key", env.Key, "err", err)
		return nil
	}
	ro := b.Roster()
	log := b.Log.With("command", cmd.Command, "user", cmd.UserID, "key", env.Key)
	var view any
	switch cmd.Command {
	case "/검색":
		view = SearchView(ro)
	case "/제출내역":
		contents, err := b.Store.UserContents(ctx, ro.Cohort.Name, cmd.UserID)
		if err != nil {
			return err
		}
		var cur *cohort.Round
		if r, err := ro.Cohort.RoundAt(env.ReceivedAt); err == nil {
			cur = &r
		}
		view = HistoryView(&ro.Cohort, cur, contents)
	case "/제출", "/패스":
		m, round, err := CheckCommand(ro, cmd.UserID, cmd.ChannelID, env.ReceivedAt)
		if errors.Is(err, ErrNotMember) {
			b.adminNotice(ctx, fmt.Sprintf("등록되지 않은 사용자 <@%s>가 `%s`를 입력했어요 (채널 <#%s>).", cmd.UserID, cmd.Command, cmd.ChannelID))
		}
		if err != nil {
			log.Info("command refused", "err", err)
			view = ErrorView(userMessage(err))
			break
		}
		announce := m.ChannelID
		if m.Admin {
			announce = cmd.ChannelID
		}
		contents, err := b.Store.UserContents(ctx, ro.Cohort.Name, cmd.UserID)
		if err != nil {
			return err
		}
		if cmd.Command == "/제출" {
			view = SubmitView(ro, round, SubmittedIn(&ro.Cohort, contents, round.N), announce)
			break
		}
		st, err := CheckPass(&ro.Cohort, contents, round)
		if err != nil {
			log.Info("pass refused", "err", err)
			view = ErrorView(userMessage(err))
			break
		}
		view = PassView(round, st, announce, announce)
	default:
		return nil
	}
	return b.openModal(ctx, env, cmd, view)
}

// openModal opens view with the command's trigger id while it can still work; past the
// deadline, or when Slack says the trigger expired, it tells the member to retry.
func (b *Bot) openModal(ctx context.Context, env *Envelope, cmd *slack.SlashCommand, view any) error {
	late := b.Clock.Now().Sub(env.ReceivedAt) > b.openDeadline()
	if !late {
		err := b.Slack.OpenView(ctx, cmd.TriggerID, view)
		switch {
		case err == nil:
			return nil
		case slack.IsCode(err, "expired_trigger_id"), slack.IsCode(err, "exchanged_trigger_id"):
			late = true
		default:
			return fmt.Errorf("bot: views.open: %w", err)
		}
	}
	b.Log.Warn("modal could not open in time; asking the member to retry", "user", cmd.UserID, "command", cmd.Command,
		"waited", b.Clock.Now().Sub(env.ReceivedAt))
	if cmd.ResponseURL == "" {
		return nil
	}
	if err := b.Slack.Respond(ctx, cmd.ResponseURL, map[string]any{
		"response_type": "ephemeral",
		"text":          "요청이 몰려 창을 제때 열지 못했어요. `" + cmd.Command + "`를 다시 입력해 주세요.",
	}); err != nil {
		b.Log.Warn("response_url failed", "err", err)
	}
	return nil
}

func (b *Bot) adminNotice(ctx context.Context, text string) {
	ch := b.Roster().AdminChannelID
	if ch == "" {
		return
	}
	if err := b.Store.AddOutbox(ctx, &store.OutboxItem{Channel: ch, Text: text}); err != nil {
		b.Log.Error("admin notice not queued", "err", err)
		return
	}
	b.notify()
}

func (b *Bot) handleInteraction(ctx context.Context, env *Envelope) error {
	it, err := slack.ParseInteraction([]byte(env.Body))
	if err != nil {
		b.Log.Error("bad queued interaction; dropped", "key", env.Key, "err", err)
		return nil
	}
	if it.Type != "view_submission" || it.View == nil {
		b.Log.Debug("interaction acknowledged", "type", it.Type, "key", env.Key)
		return nil
	}
	switch it.View.CallbackID {
	case CallbackSubmit:
		return b.record(ctx, env, it, store.KindSubmit)
	case CallbackPass:
		return b.record(ctx, env, it, store.KindPass)
	}
	return nil
}

// refuse tells the member why nothing was recorded.
func (b *Bot) refuse(ctx context.Context, channel, user string, err error) {
	b.Log.Info("request refused", "user", user, "err", err)
	if e := b.Slack.PostEphemeral(ctx, channel, user, "🥲 "+userMessage(err)); e != nil {
		b.Log.Warn("ephemeral refusal not delivered", "user", user, "err", e)
	}
}

// record checks a submitted submit or pass modal again, then stores the content and its
// announcement in one transaction.
func (b *Bot) record(ctx context.Context, env *Envelope, it *slack.Interaction, kind string) error {
	ro := b.Roster()
	v := it.View
	announce := v.PrivateMetadata
	m, round, err := CheckCommand(ro, it.User.ID, announce, env.ReceivedAt)
	if err != nil {
		b.refuse(ctx, announce, it.User.ID, err)
		return nil
	}
	c := &store.Content{
		ID: store.NewID(), Cohort: ro.Cohort.Name, UserID: m.UserID, Username: m.Name, Kind: kind,
		ReceivedAt: env.ReceivedAt, SlackTimestamp: env.SlackTimestamp, Round: round.N,
		Description: strings.TrimSpace(v.Value(BlockDesc, ActionDesc)), ChannelID: announce,
	}
	var text string
	var blocks []obj
	if kind == store.KindSubmit {
		c.URL = strings.TrimSpace(v.Value(BlockURL, ActionURL))
		c.NormURL = NormalizeURL(c.URL)
		c.Category = v.Value(BlockCategory, ActionCategory)
		c.Curation = v.Value(BlockCuration, ActionCuration)
		c.FeedbackIntensity = v.Value(BlockFeedback, ActionFeedback)
		c.Tags = ParseTags(v.Value(BlockTags, ActionTags))
		manual := strings.TrimSpace(v.Value(BlockTitle, ActionTitle))
		if err := ValidateSubmitURL(c.URL, manual); err != nil {
			b.refuse(ctx, announce, m.UserID, err)
			return nil
		}
		if !validCategory(ro, c.Category) {
			b.refuse(ctx, announce, m.UserID, ruleErr(ErrBadCategory, "카테고리를 골라 주세요."))
			return nil
		}
		c.Title = manual
		if c.Title == "" {
			t, err := b.Fetcher.Title(ctx, c.URL)
			if err != nil {
				b.refuse(ctx, announce, m.UserID, err)
				return nil
			}
			if t == "" {
				b.refuse(ctx, announce, m.UserID, ruleErr(ErrTitleRequired, "글 제목을 읽지 못했어요. '글 제목'을 직접 입력해 다시 제출해 주세요."))
				return nil
			}
			c.Title = t
		}
		text, blocks = SubmitAnnouncement(c)
	} else {
		contents, err := b.Store.UserContents(ctx, ro.Cohort.Name, m.UserID)
		if err != nil {
			return err
		}
		if _, err := CheckPass(&ro.Cohort, contents, round); err != nil {
			b.refuse(ctx, announce, m.UserID, err)
			return nil
		}
		text, blocks = PassAnnouncement(c)
	}
	raw, err := json.Marshal(blocks)
	if err != nil {
		return fmt.Errorf("bot: announcement blocks: %w", err)
	}
	err = b.Store.Record(ctx, env.Key, b.Clock.Now(), c, &store.OutboxItem{Channel: announce, Text: text, Blocks: raw, ContentID: c.ID})
	switch {
	case err == nil:
		b.Log.Info("recorded", "kind", kind, "user", m.UserID, "round", round.N, "content", c.ID)
		b.notify()
		return nil
	case errors.Is(err, store.ErrDuplicateDelivery):
		return nil
	case errors.Is(err, store.ErrDuplicateURL):
		b.refuse(ctx, announce, m.UserID, ruleErr(ErrDuplicateURL, "이미 제출된 글이에요."))
		return nil
	case errors.Is(err, store.ErrDuplicatePass):
		b.refuse(ctx, announce, m.UserID, ruleErr(ErrConsecutivePass, "이번 회차에는 이미 패스했어요."))
		return nil
	default:
		return err
	}
}

func validCategory(ro *cohort.Roster, c string) bool {
	for _, x := range ro.Cohort.Categories {
		if x == c {
			return true
		}
	}
	return false
}

func (b *Bot) handleEvent(ctx context.Context, env *Envelope) error {
	e, err := slack.ParseEvent([]byte(env.Body))
	if err != nil {
		b.Log.Error("bad queued event; dropped", "key", env.Key, "err", err)
		return nil
	}
	// Claim the event id first: an event handler has effects outside the store.
	if err := b.Store.MarkDelivery(ctx, env.Key, b.Clock.Now()); errors.Is(err, store.ErrDuplicateDelivery) {
		return nil
	} else if err != nil {
		return err
	}
	b.Log.Info("event", "type", e.Event.Type, "event_id", e.EventID, "user", e.Event.User)
	if b.OnEvent != nil {
		return b.OnEvent(e)
	}
	return nil
}
