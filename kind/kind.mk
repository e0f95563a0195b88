# The kind path of the conformance suite (included by the Makefile). Pinned versions: kind/versions.env.
#
#   make conformance-kind            create the cluster, build + load the images, deploy the CRDs,
#                                    the control plane, echo workloads and proxies, run the
#                                    catalogue and the apiserver tests, tear down
#   make conformance-kind ISTIO=1    also install Istio (istioctl from PATH, ambient profile)
#   make conformance-kind LOCAL_IMAGES=1   on images built from source here, nothing pulled
#   make conformance-kind DRY_RUN=1  print every command without running any
#   make conformance-kind KEEP=1     keep the cluster afterwards
#   make conformance-kind-up | -load | -istio | -deploy | -test | -down   one step
#   LABEL_FILTER='waypoint && lua'   narrow the catalogue (default: !local-only)
#
#   make docker                      a Docker daemon (installs docker.io, starts dockerd)
#   make images [LOCAL_IMAGES=1]     the proxy, xds, echo and registry images (kind/images/);
#                                    LOCAL_IMAGES=1 builds every base locally, pulling nothing
#   make kind-images                 the kind node image from source (kind/nodeimage/)

KIND_SCRIPT := kind/conformance-kind.sh
LOCAL_IMAGES ?= 0
export LOCAL_IMAGES

.PHONY: docker images kind-images

## docker: a Docker daemon on its socket (installs docker.io, starts dockerd when none answers).
docker:
	@bash kind/docker-up.sh

## images: the Dockerfile's proxy, xds, echo and registry images (LOCAL_IMAGES=1: local bases).
images: docker
	@bash kind/images/build.sh

## kind-images: the kind node image built from source (kind/nodeimage/, cached).
kind-images: docker
	@nice -n 10 bash kind/nodeimage/build.sh

# The conformance suite runs the proxy image (conformance/images).
conformance: images
KIND_ENV = DRY_RUN=$(DRY_RUN) KEEP=$(KEEP) $(if $(LABEL_FILTER),LABEL_FILTER='$(LABEL_FILTER)')

.PHONY: conformance-kind conformance-kind-up conformance-kind-load conformance-kind-istio \
	conformance-kind-deploy conformance-kind-test conformance-kind-down

## conformance-kind: the catalogue on a kind cluster (ISTIO=1 adds Istio, LOCAL_IMAGES=1 pulls nothing, DRY_RUN=1 prints the commands).
conformance-kind: $(if $(filter 1,$(DRY_RUN)),,docker)
	@$(KIND_ENV) bash $(KIND_SCRIPT) all

conformance-kind-up conformance-kind-load conformance-kind-istio conformance-kind-deploy conformance-kind-test conformance-kind-down:
	@$(KIND_ENV) bash $(KIND_SCRIPT) $(patsubst conformance-kind-%,%,$@)
