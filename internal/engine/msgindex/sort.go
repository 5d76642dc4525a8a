package msgindex

import "slices"

func sortEntries(es []*Entry) {
	slices.SortFunc(es, func(a, b *Entry) int {
		if a.SentAt != b.SentAt {
			if a.SentAt < b.SentAt {
				return -1
			}
			return 1
		}
		if a.Seq < b.Seq {
			return -1
		} else if a.Seq > b.Seq {
			return 1
		}
		return 0
	})
}
