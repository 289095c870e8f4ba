
use builtin;
use str;

set edit:completion:arg-completer[hale] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'hale'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'hale'= {
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand new 'Scaffold a production-grade Go microservice'
            cand upgrade 'Bring a service made by `hale new` up to the current templates, keeping your changes'
            cand templates 'Work with the service templates (export the built-in set to customise it)'
            cand build 'Build a minimal, non-root container image of a service'
            cand deploy 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout'
            cand up 'Build a service and run N instances of it locally, each self-registering'
            cand ps 'List the local instances `hale up` started, with their health'
            cand down 'Stop the local instances gracefully and remove their state'
            cand register 'Register an instance in a registry and keep it alive until stopped'
            cand deregister 'Remove an instance from a registry'
            cand discover 'List the healthy instances of a service, or follow them with --watch'
            cand load 'Load-test a fleet through client-side balancing and circuit breakers'
            cand completions 'Print a shell completion script'
            cand man 'Write the man page'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hale;new'= {
            cand --module 'Go module path [default: example.com/<NAME>]'
            cand --dir 'Folder to create [default: ./<NAME>]'
            cand --templates 'Use the templates in this folder instead of the built-in set'
            cand --ci 'The CI pipeline to write: GitHub Actions (.github/workflows/ci.yml), GitLab CI (.gitlab-ci.yml) or none'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --force 'Write into a non-empty folder, replacing the generated files there'
            cand --dry-run 'List the files that would be written, and write nothing'
            cand --no-tidy 'Do not run `go mod tidy` after writing'
            cand --grpc 'Add a gRPC API beside the HTTP one, on the same port: api/NAME/v1/NAME.proto, its generated Go code, and the gRPC server with health, metrics and interceptors'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;upgrade'= {
            cand --templates 'Upgrade to the templates in this folder instead of the built-in set'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --merge 'Write a three-way merge, with conflict markers, into files you changed, instead of leaving them alone'
            cand --dry-run 'Print the changes as a unified diff, and write nothing'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;templates'= {
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand export 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hale;templates;export'= {
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --force 'Write into a non-empty folder, replacing the template files there'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;templates;help'= {
            cand export 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hale;templates;help;export'= {
        }
        &'hale;templates;help;help'= {
        }
        &'hale;build'= {
            cand --engine 'How to build'
            cand --platform 'Target platform(s), repeatable or comma-separated; several make a multi-platform index [default: linux/<this machine''s arch>]'
            cand --base 'Base image for the native build: HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] in a registry, or an OCI image layout folder (`oci-layout:DIR` or DIR) [default: hale''s static base: CA certificates, nonroot 65532, /tmp]'
            cand --tag 'Extra tag(s) (`TAG` or `NAME:TAG`), besides `<name>:<version>` and `<name>:<short sha>`'
            cand --image-version 'The image version [default: hale.toml `[image] tag`, the commit''s exact git tag, `dev`]'
            cand --oci-layout 'The OCI image layout folder to write [default: <path>/.hale/image/oci]'
            cand --archive 'Also write a docker-archive tar (what `docker load -i` reads)'
            cand --push 'Push the image (and its SBOM as a referrer) to HOST[:PORT]/REPOSITORY[:TAG]'
            cand --insecure-registry 'A registry (HOST[:PORT]) reached over plain http although it is not on loopback'
            cand --build-arg 'A Dockerfile build argument (engine path), repeatable. Build args stay in the image''s history: pass secrets as BuildKit secret mounts, never here'
            cand --target 'The Dockerfile stage to build (engine path) [default: the last one]'
            cand --network 'The network of the Dockerfile''s RUN steps (engine path): `default`, `none` (an offline build, e.g. with a vendor/ folder) or `host`'
            cand --registry-cacert 'A PEM file of CA certificates trusted for registries, besides the system''s and /etc/docker/certs.d/<host[:port]>/*.crt'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --load 'Load the image into the Docker Engine at DOCKER_HOST (the host''s platform of an index)'
            cand --no-cache 'Build every Dockerfile step again, ignoring the engine''s cache (engine path)'
            cand --write-dockerfile 'Write the Dockerfile (and a .dockerignore when there is none) that `hale new` makes, when the folder has no Dockerfile; never overwrites'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;deploy'= {
            cand --check 'Lint manifests: DIR if given, else the set just rendered, else <path>/deploy. Exits 1 when any error-level finding remains'
            cand --check-format 'How `--check` prints its findings [default: json under --output json, else text]'
            cand --report 'Also write `--check`''s findings to a file: junit=FILE (a test case per rule) or sarif=FILE (code scanning, with the files'' paths and lines). Repeatable'
            cand --out 'Where to write: a folder [default: <path>/deploy], or `-` for the base objects on stdout'
            cand --replicas 'Replicas, or the HPA''s minimum with --max-replicas [default: hale.toml, then 2]'
            cand --max-replicas 'Let one HorizontalPodAutoscaler own scaling, up to N replicas'
            cand --hpa-cpu 'The HPA''s CPU utilisation target, in percent of the request'
            cand --hpa-memory 'Also scale on memory utilisation, in percent of the request'
            cand --cpu 'CPU request [default: hale.toml deploy.cpu, then 100m]'
            cand --memory 'Memory request [default: hale.toml deploy.memory, then 64Mi]'
            cand --memory-limit 'Memory limit; GOMEMLIMIT follows it [default: hale.toml deploy.memory_limit, then 128Mi]'
            cand --slo 'A service level objective: availability=99.9[,window=30d] or latency=p99<250ms (repeatable; replaces hale.toml deploy.slo)'
            cand --downstream 'A service this one calls (repeatable): NetworkPolicy egress and dashboard panels'
            cand --monitoring-namespace 'The namespace Prometheus runs in (allowed in by the NetworkPolicy)'
            cand --prometheus-label 'The label the Prometheus operator selects ServiceMonitors and PrometheusRules by'
            cand --scrape-target 'A target of the static prometheus.yml (repeatable) [default: 127.0.0.1:<port>]'
            cand --logs 'Ship the logs to Loki (pods annotated for Grafana Alloy, logging/loki.alloy) or Elasticsearch (Filebeat autodiscover hints, LOG_FORMAT=ecs, logging/filebeat.yml)'
            cand --kubeconfig 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)'
            cand --context 'The kubeconfig context [default: its current-context]'
            cand -n 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --namespace 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --dry-run 'Show what would change (a diff from the API server''s dry run) and change nothing'
            cand --image 'Deploy this image instead of the rendered one (e.g. the digest `hale build` recorded)'
            cand --timeout 'How long to wait for the rollout before giving up'
            cand --canary-step-weight 'Weight added per step, in percent [default: 10]'
            cand --canary-max-weight 'The last weight before promotion, in percent [default: 50]'
            cand --canary-interval 'Time between checks (at least 10s) [default: 1m]'
            cand --canary-threshold 'Failed checks before the canary is rolled back [default: 1]'
            cand --canary-window 'The window each check measures over [default: 1m]'
            cand --canary-success-rate 'Minimum request success rate of the canary''s pods, in percent [default: 99]'
            cand --canary-p99 'Maximum p99 latency of the canary''s pods [default: 500ms]'
            cand --prometheus 'The Prometheus HTTP API the gates query [default: hale.toml deploy.canary.prometheus]'
            cand --traffic 'How traffic is split between canary and stable'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --render 'Render the manifests to files (or stdout with `--out -`) instead of applying them'
            cand --force 'Overwrite files changed since hale wrote them (or that hale did not write)'
            cand --create-namespace 'Also render the Namespace object (labelled to enforce the restricted Pod Security Standard)'
            cand --network-policy 'Render a NetworkPolicy: ingress from the namespace and the monitoring namespace only'
            cand --prune 'Delete objects with hale''s labels for this service that are no longer rendered'
            cand --force-conflicts 'Take over fields that another field manager owns (otherwise the conflict is reported)'
            cand --rollback-on-failure 'When the rollout fails or times out, undo it to the previous revision and wait for that'
            cand --no-wait 'Apply and return without waiting for the rollout'
            cand --canary 'Deploy the new build as a canary beside the stable one, shift traffic in steps, check each step against the SLO gates, then promote it or roll it back'
            cand --canary-load 'At each check, drive load with hale at every ready pod (by pod IP) for the window and judge the canary''s instances, beside the stable ones, by hale''s own attribution'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status 'The rollout state, replicas and recent events of what hale applied for the service'
            cand delete 'Delete everything hale applied for the service (selected by hale''s labels), nothing else'
            cand promote 'Promote the canary in progress now (`hale deploy --canary`), from any process'
            cand abort 'Roll the canary in progress back now, from any process'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hale;deploy;status'= {
            cand --kubeconfig 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)'
            cand --context 'The kubeconfig context [default: its current-context]'
            cand -n 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --namespace 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --watch 'Print the status again whenever it changes, until interrupted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;deploy;delete'= {
            cand --kubeconfig 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)'
            cand --context 'The kubeconfig context [default: its current-context]'
            cand -n 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --namespace 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;deploy;promote'= {
            cand --kubeconfig 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)'
            cand --context 'The kubeconfig context [default: its current-context]'
            cand -n 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --namespace 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --timeout 'How long to wait for the stable pods'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;deploy;abort'= {
            cand --kubeconfig 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)'
            cand --context 'The kubeconfig context [default: its current-context]'
            cand -n 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --namespace 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]'
            cand --timeout 'How long to wait for the stable pods'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;deploy;help'= {
            cand status 'The rollout state, replicas and recent events of what hale applied for the service'
            cand delete 'Delete everything hale applied for the service (selected by hale''s labels), nothing else'
            cand promote 'Promote the canary in progress now (`hale deploy --canary`), from any process'
            cand abort 'Roll the canary in progress back now, from any process'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hale;deploy;help;status'= {
        }
        &'hale;deploy;help;delete'= {
        }
        &'hale;deploy;help;promote'= {
        }
        &'hale;deploy;help;abort'= {
        }
        &'hale;deploy;help;help'= {
        }
        &'hale;up'= {
            cand --replicas 'How many instances to run. On a running fleet, starts or stops instances to match'
            cand --registry 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]'
            cand --ready-timeout 'How long the instances may take to answer 200 on /readyz'
            cand --runtime 'Where the instances run: processes, or containers of the built image'
            cand --image 'The image to run with `--runtime docker` [default: the one `.hale/build.json` names]'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;ps'= {
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;down'= {
            cand --grace 'How long each instance may take to exit after SIGTERM before it is killed; 0s kills at once (no drain: hale deregisters them)'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;register'= {
            cand --registry 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]'
            cand --layout 'etcd key layout: hale''s own, or the one go-zero or kratos services read'
            cand --name 'Service name'
            cand --address 'Where the instance answers, HOST:PORT'
            cand --check 'HTTP health path the registry checks (Consul runs it every 5 s)'
            cand --ttl 'How long the entry lives without a heartbeat; heartbeats go every TTL/3'
            cand --id 'Instance id, a DNS-1123 label [default: <name>-<host>-<port> with ''.'' and '':'' as ''-'']'
            cand --tag 'A tag (repeatable)'
            cand --meta 'Metadata KEY=VALUE (repeatable), e.g. version=1.2.0 or weight=3'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --replace 'Take over an id another live instance holds'
            cand --once 'Register and exit, leaving the entry to expire after its TTL (no heartbeat)'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;deregister'= {
            cand --registry 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]'
            cand --layout 'etcd key layout: hale''s own, or the one go-zero or kratos services read'
            cand --name 'Service name'
            cand --id 'Instance id (for the go-zero layout: the lease id)'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;discover'= {
            cand --registry 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]'
            cand --layout 'etcd key layout: hale''s own, or the one go-zero or kratos services read'
            cand --timeout 'Stop watching after this long (with --watch)'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --watch 'Print the instances again on every change until Ctrl-C (or --timeout)'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;load'= {
            cand --registry 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]'
            cand --layout 'etcd key layout: hale''s own, or the one go-zero or kratos services read'
            cand --endpoints 'Fixed instances: host:port,host:port,...'
            cand --url 'One target URL (http://host:port/path or https://…)'
            cand --path 'Request path and query'
            cand -X 'HTTP method'
            cand --method 'HTTP method'
            cand -H 'Request header "Name: value" (repeatable)'
            cand --header 'Request header "Name: value" (repeatable)'
            cand --body 'Request body'
            cand --body-file 'Request body read from a file'
            cand --grpc 'Send unary gRPC calls of this method (PACKAGE.SERVICE/METHOD) over HTTP/2 instead of HTTP requests; --body is the request message in JSON [default: {}], -H adds metadata. Without --proto the descriptors come from the target''s server reflection'
            cand --proto 'The .proto file that defines --grpc''s method (imports resolved beside it) [default: ask the target''s server reflection]'
            cand -c 'Closed model: connections (workers); open model: most requests in flight'
            cand --concurrency 'Closed model: connections (workers); open model: most requests in flight'
            cand -r 'Open model: target requests per second'
            cand --rate 'Open model: target requests per second'
            cand --arrivals 'Open model arrivals'
            cand --profile 'Open model rate profile: ramp:FROM-TO or steps:R1,R2,R3 (replaces --rate''s constant)'
            cand -d 'How long to send (default 10s unless --requests is given)'
            cand --duration 'How long to send (default 10s unless --requests is given)'
            cand -n 'Stop after this many requests'
            cand --requests 'Stop after this many requests'
            cand --timeout 'Per-request timeout'
            cand -s 'Balancing strategy'
            cand --strategy 'Balancing strategy'
            cand --hash-header 'Consistent hashing: the header whose value is hashed (a fixed -H value, or one of --hash-keys generated keys per request)'
            cand --hash 'Consistent hashing algorithm'
            cand --hash-keys 'Distinct generated keys for --hash-header'
            cand --breaker 'Instance protection'
            cand --breaker-failure-rate 'Three-state: failure rate that opens the breaker'
            cand --breaker-min-calls 'Three-state: calls in the window before the failure rate counts'
            cand --breaker-consecutive 'Three-state: consecutive failures that open the breaker'
            cand --breaker-window 'Three-state: failure-rate window'
            cand --breaker-open 'Three-state: how long the breaker stays open before probing'
            cand --breaker-probes 'Three-state: half-open probes that must succeed to close'
            cand --adaptive-k 'Adaptive: K in max(0, (requests − K·accepts)/(requests + 1))'
            cand --retries 'Retries per request on instance failures, bounded by a 20 % + 10/s retry budget'
            cand --max-ejected 'Largest share of instances ejected at once (at least one may be, at least one stays)'
            cand --seed 'Seed of the arrival schedule and the random choices: replay a run with another strategy'
            cand --fault 'Inject a fault through the fleet: at=10s,kill=ID | at=20s,restore=ID | at=5s,error-rate=ID:0.5 | at=5s,latency=ID:200ms (repeatable)'
            cand --fleet 'Service folder holding .hale/fleet.json (for --fault)'
            cand --assert 'Fail (exit 99) unless this holds: p50|p90|p99|p999|max<DURATION, errors<N|P%, rps>N, recover<DURATION, open<DURATION, dead<N, share-deviation<P%, jain>X (repeatable)'
            cand --report 'Write a report: FILE.html (or html=FILE) the self-contained page, junit=FILE one JUnit test case per --assert (repeatable)'
            cand --histogram-out 'Write the HDR histograms (V2, base64) per instance and in total'
            cand --scheme 'http or https for --endpoints and for every instance of SERVICE (default: http, and each registry instance''s own: meta scheme=https or the tag https)'
            cand --cacert 'HTTPS: trust only the CA certificates in this PEM file (instead of the system''s)'
            cand --shards '--on-cluster: how many pods (shards) share the plan'
            cand --shard-registry '--on-cluster: the repository (host[:port]/path) the shard image of hale is pushed to'
            cand --shard-image '--on-cluster: a hale image the nodes can pull already (instead of --shard-registry)'
            cand --shard-node-selector '--on-cluster: a node label the shard pods must match, KEY=VALUE (repeatable)'
            cand --kubeconfig '--on-cluster: the kubeconfig file (replaces KUBECONFIG and ~/.kube/config)'
            cand --context '--on-cluster: the kubeconfig context [default: its current-context]'
            cand --namespace '--on-cluster: the namespace of the Service and of the shards'' Job [default: the context''s, then `default`]'
            cand --merge 'Merge --histogram-out files (no load is sent) and print their percentiles'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand --keep-faults 'Leave the error-rate and latency faults the run injected in place when it ends (by default they are reset to zero at the end, on Ctrl-C and on SIGTERM)'
            cand -k 'HTTPS: accept any server certificate (test servers only)'
            cand --insecure 'HTTPS: accept any server certificate (test servers only)'
            cand --on-cluster 'Run the load from the cluster: SERVICE is the name of a Kubernetes Service in --namespace (its ready pods followed live through its EndpointSlices) or, with --registry consul://HOST:PORT or etcd://HOST:PORT as the pods reach it, a registry''s service that every shard follows itself; or --url an http:// or https:// URL as the pods see it (https: the shards trust --cacert, or this machine''s system roots). The plan is split into --shards pods of one Indexed Job, their results merged into one report'
            cand --allow-shard-failures '--on-cluster: report the shards that ran when others fail (exit 0 unless the rest fails)'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;completions'= {
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;man'= {
            cand --dir 'Write hale.1 and one page per subcommand (hale-new.1, ...) into this folder instead of printing hale.1 to stdout'
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --network-timeout 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;help'= {
            cand new 'Scaffold a production-grade Go microservice'
            cand upgrade 'Bring a service made by `hale new` up to the current templates, keeping your changes'
            cand templates 'Work with the service templates (export the built-in set to customise it)'
            cand build 'Build a minimal, non-root container image of a service'
            cand deploy 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout'
            cand up 'Build a service and run N instances of it locally, each self-registering'
            cand ps 'List the local instances `hale up` started, with their health'
            cand down 'Stop the local instances gracefully and remove their state'
            cand register 'Register an instance in a registry and keep it alive until stopped'
            cand deregister 'Remove an instance from a registry'
            cand discover 'List the healthy instances of a service, or follow them with --watch'
            cand load 'Load-test a fleet through client-side balancing and circuit breakers'
            cand completions 'Print a shell completion script'
            cand man 'Write the man page'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hale;help;new'= {
        }
        &'hale;help;upgrade'= {
        }
        &'hale;help;templates'= {
            cand export 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
        }
        &'hale;help;templates;export'= {
        }
        &'hale;help;build'= {
        }
        &'hale;help;deploy'= {
            cand status 'The rollout state, replicas and recent events of what hale applied for the service'
            cand delete 'Delete everything hale applied for the service (selected by hale''s labels), nothing else'
            cand promote 'Promote the canary in progress now (`hale deploy --canary`), from any process'
            cand abort 'Roll the canary in progress back now, from any process'
        }
        &'hale;help;deploy;status'= {
        }
        &'hale;help;deploy;delete'= {
        }
        &'hale;help;deploy;promote'= {
        }
        &'hale;help;deploy;abort'= {
        }
        &'hale;help;up'= {
        }
        &'hale;help;ps'= {
        }
        &'hale;help;down'= {
        }
        &'hale;help;register'= {
        }
        &'hale;help;deregister'= {
        }
        &'hale;help;discover'= {
        }
        &'hale;help;load'= {
        }
        &'hale;help;completions'= {
        }
        &'hale;help;man'= {
        }
        &'hale;help;help'= {
        }
    ]
    $completions[$command]
}
