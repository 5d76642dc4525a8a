package bot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"ttobot/internal/cohort"
	"ttobot/internal/store"
)

// Callback ids and block/action ids of ttobot's modals.
const (
	CallbackSubmit       = "submit_view"
	CallbackPass         = "pass_view"
	CallbackSearch       = "submit_search"
	CallbackSearchResult = "back_to_search_view"
	CallbackHistory      = "history_view"
	CallbackError        = "error_view"

	BlockURL, ActionURL           = "content_url", "url_text_input-action"
	BlockCategory, ActionCategory = "category", "category_select"
	BlockCuration, ActionCuration = "curation", "curation_select"
	BlockFeedback, ActionFeedback = "feedback_intensity", "feedback_intensity_select"
	BlockTags, ActionTags         = "tag", "tags_input"
	BlockDesc, ActionDesc         = "description", "text_input"
	BlockTitle, ActionTitle       = "manual_title_input", "title_input"
	BlockKeyword, ActionKeyword   = "keyword_search", "keyword"
	BlockAuthor, ActionAuthor     = "author_search", "author_name"
	BlockSearchCat, ActionSearchC = "category_search", "chosen_category"

	AllCategories = "전체"
	maxSearchShow = 20
	maxHistory    = 12
)

type obj = map[string]any

func plain(s string) obj { return obj{"type": "plain_text", "text": s} }

func section(md string) obj {
	return obj{"type": "section", "text": obj{"type": "mrkdwn", "text": md}}
}

func option(text, value string) obj { return obj{"text": plain(text), "value": value} }

func input(block, label string, optional bool, element obj) obj {
	return obj{"type": "input", "block_id": block, "label": plain(label), "optional": optional, "element": element}
}

func textInput(action string, multiline bool, initial string) obj {
	e := obj{"type": "plain_text_input", "action_id": action, "multiline": multiline}
	if initial != "" {
		e["initial_value"] = initial
	}
	return e
}

func staticSelect(action string, opts []obj, initial obj) obj {
	e := obj{"type": "static_select", "action_id": action, "options": opts}
	if initial != nil {
		e["initial_option"] = initial
	}
	return e
}

// title cuts a modal title to Slack's 24 characters.
func title(s string) obj {
	if utf8.RuneCountInString(s) > 24 {
		s = string([]rune(s)[:24])
	}
	return plain(s)
}

func modal(callback, ttl, submit string, blocks []obj, meta string) obj {
	v := obj{"type": "modal", "callback_id": callback, "title": title(ttl), "blocks": blocks, "close": plain("닫기")}
	if submit != "" {
		v["submit"] = plain(submit)
	}
	if meta != "" {
		v["private_metadata"] = meta
	}
	return v
}

// ErrorView is the "잠깐!" modal that explains a refusal.
func ErrorView(msg string) obj {
	return modal(CallbackError, "잠깐!", "", []obj{section("🥲 " + msg)}, "")
}

// SubmitView is the /제출 modal; meta is the channel to announce in.
func SubmitView(r *cohort.Roster, round cohort.Round, already bool, meta string) obj {
	head := fmt.Sprintf("*%d회차* 제출 (마감 %s 24:00)", round.N, round.DueLabel())
	if already {
		head += "\n이번 회차에 이미 제출했어요. 추가 제출도 가능해요."
	}
	var cats []obj
	for _, c := range r.Cohort.Categories {
		cats = append(cats, option(c, c))
	}
	feedback := []obj{option("🌱 MILD", "MILD"), option("🧄 HOT", "HOT"), option("🌶️ FIRE", "FIRE"), option("☠️ DIABLO", "DIABLO")}
	return modal(CallbackSubmit, "또봇", "제출", []obj{
		section(head),
		input(BlockURL, "글 링크", false, obj{"type": "url_text_input", "action_id": ActionURL}),
		input(BlockCategory, "카테고리", false, staticSelect(ActionCategory, cats, nil)),
		input(BlockCuration, "큐레이션", false, staticSelect(ActionCuration, []obj{
			option("큐레이션 후보가 되고 싶어요", "Y"), option("아직은 괜찮아요", "N")}, nil)),
		input(BlockFeedback, "피드백 강도", false, staticSelect(ActionFeedback, feedback, feedback[1])),
		input(BlockTags, "태그 (쉼표로 구분)", true, textInput(ActionTags, false, "")),
		input(BlockDesc, "하고 싶은 말", true, textInput(ActionDesc, true, "")),
		input(BlockTitle, "글 제목 (노션·oopy·네이버 블로그는 필수)", true, textInput(ActionTitle, false, "")),
	}, meta)
}

// PassView is the /패스 modal.
func PassView(round cohort.Round, st PassStatus, channel, meta string) obj {
	return modal(CallbackPass, "또봇", "패스", []obj{
		section(fmt.Sprintf("*%d회차* 패스 (마감 %s)\n패스는 연속으로 사용할 수 없어요.\n남은 패스: %d개\n패스 내용은 <#%s> 채널에 공유돼요.",
			round.N, round.DueLabel(), st.Remaining, channel)),
		input(BlockDesc, "하고 싶은 말", true, textInput(ActionDesc, true, "")),
	}, meta)
}

// SearchView is the /검색 modal.
func SearchView(r *cohort.Roster) obj {
	all := option(AllCategories, AllCategories)
	cats := []obj{all}
	for _, c := range r.Cohort.Categories {
		cats = append(cats, option(c, c))
	}
	return modal(CallbackSearch, "글 검색", "검색", []obj{
		input(BlockKeyword, "키워드", true, textInput(ActionKeyword, false, "")),
		input(BlockAuthor, "글쓴이 이름", true, textInput(ActionAuthor, false, "")),
		input(BlockSearchCat, "카테고리", false, staticSelect(ActionSearchC, cats, all)),
	}, "")
}

func link(c *store.Content) string {
	label := c.Title
	if label == "" {
		label = c.URL
	}
	u := c.URL
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	return "<" + u + "|" + strings.NewReplacer("|", "¦", ">", "›").Replace(label) + ">"
}

func tagChips(tags []string) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(" `" + t + "`")
	}
	return strings.TrimSpace(b.String())
}

// SearchResultView shows up to 20 results; submitting it opens a fresh search.
func SearchResultView(results []store.Content, total int) obj {
	blocks := []obj{}
	if total > len(results) {
		blocks = append(blocks, section(fmt.Sprintf("최근 %d개만 보여요. 조건을 좁혀 보세요.", len(results))))
	}
	for i := range results {
		c := &results[i]
		md := link(c) + "\n카테고리: " + c.Category
		if len(c.Tags) > 0 {
			md += " | 태그: " + tagChips(c.Tags)
		}
		blocks = append(blocks, section(md))
	}
	if total == 0 {
		blocks = append(blocks, section("찾는 글이 없어요."))
	}
	return modal(CallbackSearchResult, fmt.Sprintf("%d개의 글이 있어요", total), "다시 검색", blocks, "")
}

// HistoryView lists a member's newest contents with their rounds.
func HistoryView(s *cohort.Schedule, cur *cohort.Round, contents []store.Content) obj {
	var blocks []obj
	if cur != nil {
		blocks = append(blocks, section(fmt.Sprintf("현재 *%d회차* (마감 %s)", cur.N, cur.DueLabel())))
	}
	if len(contents) == 0 {
		blocks = append(blocks, section("제출 내역이 없어요."))
	}
	for i := range contents[:min(len(contents), maxHistory)] {
		c := &contents[i]
		dt := c.ReceivedAt.In(cohort.Seoul).Format("2006-01-02 15:04:05")
		if c.Kind == store.KindPass {
			blocks = append(blocks, section(fmt.Sprintf("▶️ %d회차 패스 | %s", roundOf(s, c), dt)))
			continue
		}
		blocks = append(blocks, section(fmt.Sprintf("✅ %d회차 제출 | %s\n%s", roundOf(s, c), dt, link(c))))
	}
	return modal(CallbackHistory, "제출 내역", "", blocks, "")
}

// HelpText is the /도움말 answer.
func HelpText(r *cohort.Roster) string {
	return strings.Join([]string{
		"*또봇 사용법*",
		"• `/제출` 글을 제출해요. 자신의 코어 채널에서 입력하세요. 마감은 회차 마감일(일요일) 24:00(한국 시간)이에요.",
		fmt.Sprintf("• `/패스` 이번 회차를 쉬어요. 기수마다 %d번, 연속으로는 쓸 수 없고, 이미 제출한 회차에는 쓸 수 없어요.", r.Cohort.MaxPass),
		"• `/검색` 키워드·글쓴이·카테고리로 제출된 글을 찾아요.",
		"• `/제출내역` 내 제출과 패스를 최신순으로 보여줘요.",
		"• 문의: " + supportRef(r),
	}, "\n")
}

// SubmitAnnouncement is the message posted for a submission.
func SubmitAnnouncement(c *store.Content) (string, []obj) {
	var b strings.Builder
	fmt.Fprintf(&b, ">🎉 *<@%s>님 제출 완료.*\n", c.UserID)
	if c.Description != "" {
		for l := range strings.SplitSeq(c.Description, "\n") {
			b.WriteString(">" + l + "\n")
		}
	}
	fmt.Fprintf(&b, ">링크 : *%s*\n>카테고리 : %s", link(c), c.Category)
	if len(c.Tags) > 0 {
		b.WriteString("\n>태그 : " + tagChips(c.Tags))
	}
	fallback := fmt.Sprintf("<@%s>님 제출 완료. %s", c.UserID, link(c))
	return fallback, []obj{section(b.String())}
}

// PassAnnouncement is the message posted for a pass.
func PassAnnouncement(c *store.Content) (string, []obj) {
	md := fmt.Sprintf(">🙏🏼 *<@%s>님 패스 완료.*", c.UserID)
	for l := range strings.SplitSeq(c.Description, "\n") {
		if l != "" {
			md += "\n>" + l
		}
	}
	return fmt.Sprintf("<@%s>님 패스 완료.", c.UserID), []obj{section(md)}
}
