package csi

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// GroupControllerGetCapabilities answers that the driver has no group controller capability:
// it takes no volume group snapshots. Serving the service (instead of leaving it unknown) lets
// csi-snapshotter ask at start-up and get an answer rather than an "unknown service" error;
// with an empty list it logs one warning and leaves group snapshots alone. The group snapshot
// RPCs stay UNIMPLEMENTED (csi.UnimplementedGroupControllerServer), and GetPluginCapabilities
// does not advertise GROUP_CONTROLLER_SERVICE, since the service offers nothing.
func (d *Driver) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return &csi.GroupControllerGetCapabilitiesResponse{}, nil
}
