package rootfs

import (
	"errors"
	"os"
)

func idmapTree(tree int, m *Mount) error { return errors.New("idmap: not implemented yet") }

func copyUp(dest *os.File, mnt int) error { return errors.New("not implemented yet") }
