package core

// HTTPToGRPCStatus is the gRPC status Envoy derives from an HTTP status
// (Grpc::Utility::httpToGrpcStatus, after grpc's http-grpc-status-mapping.md): 400 Internal,
// 401 Unauthenticated, 403 PermissionDenied, 404 Unimplemented, 429/502/503/504 Unavailable,
// anything else Unknown.
func HTTPToGRPCStatus(httpStatus int64) int64 {
	switch httpStatus {
	case 400:
		return 13 // Internal
	case 401:
		return 16 // Unauthenticated
	case 403:
		return 7 // PermissionDenied
	case 404:
		return 12 // Unimplemented
	case 429, 502, 503, 504:
		return 14 // Unavailable
	}
	return 2 // Unknown
}
