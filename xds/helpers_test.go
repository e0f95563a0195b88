package xds

import (
	"errors"
	"os"

	"github.com/trafficext/trafficext/xds/model"
)

func writeFile(p, content string) error { return os.WriteFile(p, []byte(content), 0o644) }

func asModelError(err error, target **model.Error) bool { return errors.As(err, target) }
