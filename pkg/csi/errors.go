package csi

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// This file is the one place where errors become gRPC codes. Handlers build errors with the
// constructors below (for conditions the CSI spec names) or pass through errors from pkg/tsm,
// pkg/mount and pkg/state; every RPC returns through toStatus.

type rpcError struct {
	code  codes.Code
	msg   string
	cause error
}

func (e *rpcError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *rpcError) Unwrap() error { return e.cause }

func newError(code codes.Code, cause error, format string, args ...any) error {
	return &rpcError{code: code, msg: fmt.Sprintf(format, args...), cause: cause}
}

func errInvalid(format string, args ...any) error {
	return newError(codes.InvalidArgument, nil, format, args...)
}
func errNotFound(format string, args ...any) error {
	return newError(codes.NotFound, nil, format, args...)
}
func errExists(format string, args ...any) error {
	return newError(codes.AlreadyExists, nil, format, args...)
}
func errAborted(format string, args ...any) error {
	return newError(codes.Aborted, nil, format, args...)
}
func errOutOfRange(format string, args ...any) error {
	return newError(codes.OutOfRange, nil, format, args...)
}
func errExhausted(format string, args ...any) error {
	return newError(codes.ResourceExhausted, nil, format, args...)
}
func errPrecondition(format string, args ...any) error {
	return newError(codes.FailedPrecondition, nil, format, args...)
}

// wrap gives an error from a lower layer context without choosing its code.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// tsmCode is how a failed dsmc run is reported to the CO. Codes the sidecars treat as
// non-final (Unavailable, Aborted, ResourceExhausted, DeadlineExceeded) are used where a retry
// can succeed without anybody changing anything.
func tsmCode(k tsm.Kind) codes.Code {
	switch k {
	case tsm.KindNotFound:
		return codes.NotFound
	case tsm.KindAuth, tsm.KindMissing:
		return codes.FailedPrecondition
	case tsm.KindConnection, tsm.KindBusy:
		return codes.Unavailable
	case tsm.KindNoPassword:
		return codes.FailedPrecondition
	case tsm.KindRestartPending:
		return codes.Aborted
	case tsm.KindNoSpace:
		return codes.ResourceExhausted
	case tsm.KindTimeout:
		return codes.DeadlineExceeded
	case tsm.KindCanceled:
		return codes.Canceled
	default:
		return codes.Internal
	}
}

// codeOf finds the gRPC code for any error.
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var re *rpcError
	if errors.As(err, &re) {
		return re.code
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	var dl *dataLossError
	if errors.As(err, &dl) {
		return codes.DataLoss
	}
	var te *tsm.Error
	if errors.As(err, &te) {
		return tsmCode(te.Kind)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return codes.ResourceExhausted
	case errors.Is(err, state.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, mount.ErrReflinkUnsupported), errors.Is(err, mount.ErrDeviceBusy):
		return codes.FailedPrecondition
	case errors.Is(err, mount.ErrMountConflict), errors.Is(err, mount.ErrLinkConflict):
		return codes.AlreadyExists
	case errors.Is(err, mount.ErrInvalidName), errors.Is(err, mount.ErrUnsupportedFS):
		return codes.InvalidArgument
	case errors.Is(err, mount.ErrUnsafePath), errors.Is(err, mount.ErrInvalidMountFlag):
		return codes.InvalidArgument
	}
	return codes.Internal
}

// toStatus converts any error returned by a handler into a gRPC status error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}
