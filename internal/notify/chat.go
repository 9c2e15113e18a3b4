package notify

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// bullish and bearish tell the event's colour: green for bullish news, red for bearish, neutral otherwise.
func (m Message) bullish() (bullish, bearish bool) {
	switch {
	case m.Event == crossUp, m.Event == colorFlip && m.Color == "green":
		return true, false
	case m.Event == crossDown, m.Event == colorFlip && m.Color == "red":
		return false, true
	}
	return false, false
}

// slackMessage is a Slack incoming-webhook message: text for notifications and clients without
// blocks, blocks for the rendered message.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type   string      `json:"type"`
	Text   *slackText  `json:"text,omitempty"`
	Fields []slackText `json:"fields,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (s *Sender) slack(ctx context.Context, t Target, m Message) error {
	emoji := ":large_blue_circle:"
	if up, down := m.bullish(); up {
		emoji = ":large_green_circle:"
	} else if down {
		emoji = ":red_circle:"
	}
	msg := slackMessage{Text: m.Title(), Blocks: []slackBlock{
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: emoji + " *" + slackEscape(m.Title()) + "*"}},
	}}
	fields := slackBlock{Type: "section"}
	for _, f := range m.fields() {
		fields.Fields = append(fields.Fields, slackText{Type: "mrkdwn", Text: "*" + f[0] + "*\n" + slackEscape(f[1])})
	}
	msg.Blocks = append(msg.Blocks, fields)
	body, err := json.Marshal(msg)
	if err != nil {
		return &Error{Err: err}
	}
	return s.post(ctx, t, body, nil)
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// discordMessage is a Discord webhook execution with one embed.
type discordMessage struct {
	Username string         `json:"username"`
	Content  string         `json:"content"`
	Embeds   []discordEmbed `json:"embeds"`
}

type discordEmbed struct {
	Title     string         `json:"title"`
	Color     int            `json:"color"`
	Timestamp string         `json:"timestamp"`
	Fields    []discordField `json:"fields"`
	Footer    discordFooter  `json:"footer"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

func (s *Sender) discord(ctx context.Context, t Target, m Message) error {
	color := 0x5865F2
	if up, down := m.bullish(); up {
		color = 0x2EB886
	} else if down {
		color = 0xE01E5A
	}
	embed := discordEmbed{Title: m.Title(), Color: color, Timestamp: m.CandleCloseTime.UTC().Format(time.RFC3339),
		Footer: discordFooter{Text: "hama-operator " + m.Namespace + "/" + m.Alert}}
	for _, f := range m.fields() {
		embed.Fields = append(embed.Fields, discordField{Name: f[0], Value: f[1], Inline: true})
	}
	body, err := json.Marshal(discordMessage{Username: "hama-operator", Content: m.Title(), Embeds: []discordEmbed{embed}})
	if err != nil {
		return &Error{Err: err}
	}
	return s.post(ctx, t, body, nil)
}
