package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// GroupControllerGetCapabilities answers that the driver has no group controller capability:
// it takes no volume group snapshots. Serving the service (instead of leaving it unknown) lets
// csi-snapshotter ask at start-up and get an answer rather than an "unknown service" error;
// with an empty list it leaves group snapshots alone. The group snapshot RPCs stay
// UNIMPLEMENTED (csi.UnimplementedGroupControllerServer).
func (d *Driver) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return &csi.GroupControllerGetCapabilitiesResponse{}, nil
}
