package csi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{errInvalid("x"), codes.InvalidArgument},
		{wrap(errNotFound("x"), "context"), codes.NotFound},
		{status.Error(codes.Unavailable, "x"), codes.Unavailable},
		{&tsm.Error{Kind: tsm.KindAuth}, codes.FailedPrecondition},
		{fmt.Errorf("upload: %w", &tsm.Error{Kind: tsm.KindConnection}), codes.Unavailable},
		{&tsm.Error{Kind: tsm.KindNotFound}, codes.NotFound},
		{&tsm.Error{Kind: tsm.KindRestartPending}, codes.Aborted},
		{&tsm.Error{Kind: tsm.KindNoSpace}, codes.ResourceExhausted},
		{&tsm.Error{Kind: tsm.KindTimeout}, codes.DeadlineExceeded},
		{&tsm.Error{Kind: tsm.KindMissing}, codes.FailedPrecondition},
		{&tsm.Error{Kind: tsm.KindFailed}, codes.Internal},
		{&tsm.Error{Kind: tsm.KindUnknown}, codes.Internal},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{wrap(state.ErrNotFound, "x"), codes.NotFound},
		{fmt.Errorf("cut: %w", mount.ErrReflinkUnsupported), codes.FailedPrecondition},
		{fmt.Errorf("detach: %w", mount.ErrDeviceBusy), codes.FailedPrecondition},
		{fmt.Errorf("publish: %w", mount.ErrMountConflict), codes.AlreadyExists},
		{errors.New("disk on fire"), codes.Internal},
	} {
		if got := codeOf(tc.err); got != tc.want {
			t.Errorf("codeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.err == nil {
			continue
		}
		if s, _ := status.FromError(toStatus(tc.err)); s.Code() != tc.want {
			t.Errorf("toStatus(%v) has code %v", tc.err, s.Code())
		}
	}
}
