package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/radmfa/radmfa/store"
)

// Result is what a sync did (or, dry, would do).
type Result struct {
	Directory string
	Seen      int // users the directory has
	Created   int
	Updated   int
	Disabled  int // left the filter or disabled in the directory
	Enabled   int
	Kept      int // users of that name added by hand or from another directory: left alone
	Changes   []string
}

// Summary is the one line a sync logs and prints.
func (r Result) Summary() string {
	return fmt.Sprintf("directory %s: %d users seen, %d created, %d updated, %d disabled, %d enabled, %d left alone (added by hand or from another directory)",
		r.Directory, r.Seen, r.Created, r.Updated, r.Disabled, r.Enabled, r.Kept)
}

// GroupOf is the radmfa group of a directory user: the first mapping
// whose directory group (a DN, or a CN) they are in; "" for none.
func GroupOf(d store.Directory, groups []string) string {
	for _, m := range d.GroupMap {
		for _, g := range groups {
			if strings.EqualFold(g, m.Directory) || strings.EqualFold(cn(g), m.Directory) {
				return m.Group
			}
		}
	}
	return ""
}

// cn is the first RDN's value of a DN ("VPN-Staff" of "CN=VPN-Staff,...").
func cn(dn string) string {
	first, _, _ := strings.Cut(dn, ",")
	_, v, ok := strings.Cut(first, "=")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

// syncWorkers is how many users a sync creates at once: SQLite's writer
// then commits them in shared transactions, PostgreSQL on several
// connections.
const syncWorkers = 16

// Sync makes the store's users of d match entries: users that appear are
// created, email, group and enabled state follow the directory, users
// that left it (or are disabled there) are disabled. It never deletes a
// user or a token, and never touches users added by hand. With dry, it
// only says what it would do. Every change has its audit row (actor by).
func Sync(ctx context.Context, st store.Store, d store.Directory, entries []Entry, by string, dry bool) (Result, error) {
	res := Result{Directory: d.Name, Seen: len(entries)}
	users, err := st.Users(ctx)
	if err != nil {
		return res, err
	}
	byName := make(map[string]store.User, len(users))
	for _, u := range users {
		byName[strings.ToLower(u.Name)] = u
	}
	seen := make(map[string]bool, len(entries))
	var create []store.User
	for _, e := range entries {
		key := strings.ToLower(e.Login)
		if seen[key] {
			continue // two entries with one login: the first counts
		}
		seen[key] = true
		want := store.User{Name: e.Login, Email: e.Email, Group: GroupOf(d, e.Groups), Disabled: e.Disabled, Source: d.Name, ExternalID: e.DN}
		u, ok := byName[key]
		switch {
		case !ok:
			create = append(create, want)
			res.Created++
			res.Changes = append(res.Changes, "create "+e.Login)
		case u.Source != d.Name:
			res.Kept++
		case u.Email != want.Email || u.Group != want.Group || u.Disabled != want.Disabled || u.ExternalID != want.ExternalID:
			switch {
			case u.Disabled && !want.Disabled:
				res.Enabled++
			case !u.Disabled && want.Disabled:
				res.Disabled++
			default:
				res.Updated++
			}
			res.Changes = append(res.Changes, fmt.Sprintf("update %s: email=%q group=%q disabled=%t", u.Name, want.Email, want.Group, want.Disabled))
			if !dry {
				if _, err := st.UpdateUser(ctx, by, u.Name, "user.sync", func(x *store.User) error {
					x.Email, x.Group, x.Disabled, x.ExternalID = want.Email, want.Group, want.Disabled, want.ExternalID
					return nil
				}); err != nil {
					return res, err
				}
			}
		}
	}
	for _, u := range users {
		if u.Source == d.Name && !seen[strings.ToLower(u.Name)] && !u.Disabled {
			res.Disabled++
			res.Changes = append(res.Changes, "disable "+u.Name+" (no longer in the directory's filter)")
			if !dry {
				if _, err := st.UpdateUser(ctx, by, u.Name, "user.sync", func(x *store.User) error {
					x.Disabled = true
					return nil
				}); err != nil {
					return res, err
				}
			}
		}
	}
	if dry || len(create) == 0 {
		return res, nil
	}
	return res, createAll(ctx, st, by, create)
}

// createAll creates users from several goroutines.
func createAll(ctx context.Context, st store.Store, by string, users []store.User) error {
	work := make(chan store.User)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range syncWorkers {
		wg.Go(func() {
			for u := range work {
				if _, err := st.CreateUser(ctx, by, u); err != nil && !errors.Is(err, store.ErrExists) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, u := range users {
		if ctx.Err() != nil {
			break
		}
		work <- u
	}
	close(work)
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}
