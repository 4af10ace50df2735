# CoreDNS with failover, for those with a registry at hand: docker build -t coredns-failover .
# (make image builds the same image without a registry or a container runtime.)
# The build stage compiles a static CoreDNS and gives it the one capability it
# needs, binding port 53 as a non-root user; the image is scratch plus that
# binary, the CA roots and the user's passwd and group entries.

FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /out/coredns ./plugin \
    && setcap cap_net_bind_service=+ep /out/coredns
RUN mkdir -p /out/etc/coredns \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > /out/etc/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/etc/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/ /etc/
COPY --from=build /out/coredns /coredns
USER 65532:65532
WORKDIR /etc/coredns
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["/coredns"]
CMD ["-conf", "/etc/coredns/Corefile"]
