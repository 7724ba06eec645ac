// Package user resolves and applies process.user: the uid, gid and
// supplementary groups the user process runs with, its umask, and the home
// directory its HOME defaults to.
//
// Resolution follows runc: the numeric uid and gid of the configuration are
// used as given (a uid need not exist in /etc/passwd); the container's
// /etc/passwd is read only for the home directory of that uid; the
// supplementary groups are exactly process.user.additionalGids (runc does
// not add the user's /etc/group memberships when the gid is explicit, and
// on Linux the gid always is).
package user

import (
	"fmt"
	"io"
	"strconv"

	mobyuser "github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Identity is who the user process runs as.
type Identity struct {
	UID, GID int
	Groups   []int
	// KeepGroups leaves the inherited supplementary groups (setgroups is
	// denied in an unprivileged user namespace).
	KeepGroups bool
	// Home is the passwd home of UID, "/" when there is no entry.
	Home string
	// Umask is process.user.umask, 0022 when unset (runc's default).
	Umask uint32
}

// maxID is the largest valid uid or gid (-1 means "unchanged" to the
// kernel).
const maxID = 1<<32 - 2

// Resolve computes the identity from process.user and the container's
// passwd file (nil: no such file). process.user.username is a Windows
// field; like runc, Linux ignores it.
func Resolve(u specs.User, passwd io.Reader) (Identity, error) {
	id := Identity{UID: int(u.UID), GID: int(u.GID), Home: "/", Umask: 0o022}
	if u.Umask != nil {
		if *u.Umask > 0o777 {
			return Identity{}, fmt.Errorf("process.user.umask: %#o is not a permission mask", *u.Umask)
		}
		id.Umask = *u.Umask
	}
	if uint64(u.UID) > maxID {
		return Identity{}, fmt.Errorf("process.user.uid: %d is out of range", u.UID)
	}
	if uint64(u.GID) > maxID {
		return Identity{}, fmt.Errorf("process.user.gid: %d is out of range", u.GID)
	}
	if passwd != nil {
		users, err := mobyuser.ParsePasswdFilter(passwd, func(e mobyuser.User) bool { return e.Uid == id.UID })
		if err != nil {
			return Identity{}, fmt.Errorf("process.user.uid: read /etc/passwd: %w", err)
		}
		// First match wins, as in runc.
		if len(users) > 0 && users[0].Home != "" {
			id.Home = users[0].Home
		}
	}
	for i, g := range u.AdditionalGids {
		if uint64(g) > maxID {
			return Identity{}, fmt.Errorf("process.user.additionalGids[%d]: %d is out of range", i, g)
		}
		id.Groups = append(id.Groups, int(g))
	}
	return id, nil
}

// String renders the identity for messages.
func (id Identity) String() string {
	return "uid " + strconv.Itoa(id.UID) + " gid " + strconv.Itoa(id.GID)
}
