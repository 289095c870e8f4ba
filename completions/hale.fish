# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hale_global_optspecs
    string join \n output= q/quiet v/verbose color= network-timeout= h/help V/version
end

function __fish_hale_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hale_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hale_using_subcommand
    set -l cmd (__fish_hale_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hale -n "__fish_hale_needs_command" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_needs_command" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_needs_command" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_needs_command" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_needs_command" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_needs_command" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_needs_command" -f -a "new" -d 'Scaffold a production-grade Go microservice'
complete -c hale -n "__fish_hale_needs_command" -f -a "upgrade" -d 'Bring a service made by `hale new` up to the current templates, keeping your changes'
complete -c hale -n "__fish_hale_needs_command" -f -a "templates" -d 'Work with the service templates (export the built-in set to customise it)'
complete -c hale -n "__fish_hale_needs_command" -f -a "build" -d 'Build a minimal, non-root container image of a service'
complete -c hale -n "__fish_hale_needs_command" -f -a "deploy" -d 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout'
complete -c hale -n "__fish_hale_needs_command" -f -a "up" -d 'Build a service and run N instances of it locally, each self-registering'
complete -c hale -n "__fish_hale_needs_command" -f -a "ps" -d 'List the local instances `hale up` started, with their health'
complete -c hale -n "__fish_hale_needs_command" -f -a "down" -d 'Stop the local instances gracefully and remove their state'
complete -c hale -n "__fish_hale_needs_command" -f -a "register" -d 'Register an instance in a registry and keep it alive until stopped'
complete -c hale -n "__fish_hale_needs_command" -f -a "deregister" -d 'Remove an instance from a registry'
complete -c hale -n "__fish_hale_needs_command" -f -a "discover" -d 'List the healthy instances of a service, or follow them with --watch'
complete -c hale -n "__fish_hale_needs_command" -f -a "load" -d 'Load-test a fleet through client-side balancing and circuit breakers'
complete -c hale -n "__fish_hale_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c hale -n "__fish_hale_needs_command" -f -a "man" -d 'Write the man page'
complete -c hale -n "__fish_hale_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand new" -l module -d 'Go module path [default: example.com/<NAME>]' -r
complete -c hale -n "__fish_hale_using_subcommand new" -l dir -d 'Folder to create [default: ./<NAME>]' -r -F
complete -c hale -n "__fish_hale_using_subcommand new" -l templates -d 'Use the templates in this folder instead of the built-in set' -r -F
complete -c hale -n "__fish_hale_using_subcommand new" -l ci -d 'The CI pipeline to write: GitHub Actions (.github/workflows/ci.yml), GitLab CI (.gitlab-ci.yml) or none' -r -f -a "github\t'`.github/workflows/ci.yml`'
gitlab\t'`.gitlab-ci.yml`'
none\t'No pipeline file'"
complete -c hale -n "__fish_hale_using_subcommand new" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand new" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand new" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand new" -l force -d 'Write into a non-empty folder, replacing the generated files there'
complete -c hale -n "__fish_hale_using_subcommand new" -l dry-run -d 'List the files that would be written, and write nothing'
complete -c hale -n "__fish_hale_using_subcommand new" -l no-tidy -d 'Do not run `go mod tidy` after writing'
complete -c hale -n "__fish_hale_using_subcommand new" -l grpc -d 'Add a gRPC API beside the HTTP one, on the same port: api/NAME/v1/NAME.proto, its generated Go code, and the gRPC server with health, metrics and interceptors'
complete -c hale -n "__fish_hale_using_subcommand new" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand new" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand new" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand new" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand upgrade" -l templates -d 'Upgrade to the templates in this folder instead of the built-in set' -r -F
complete -c hale -n "__fish_hale_using_subcommand upgrade" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand upgrade" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand upgrade" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand upgrade" -l merge -d 'Write a three-way merge, with conflict markers, into files you changed, instead of leaving them alone'
complete -c hale -n "__fish_hale_using_subcommand upgrade" -l dry-run -d 'Print the changes as a unified diff, and write nothing'
complete -c hale -n "__fish_hale_using_subcommand upgrade" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand upgrade" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand upgrade" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand upgrade" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -f -a "export" -d 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l force -d 'Write into a non-empty folder, replacing the template files there'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand build" -l engine -d 'How to build' -r -f -a "auto\t'The Docker Engine when one with BuildKit answers and there is a Dockerfile, else native'
native\t'No daemon: the host\'s Go toolchain and an image assembled by hale'
docker\t'The Docker Engine (BuildKit) with the service\'s Dockerfile'"
complete -c hale -n "__fish_hale_using_subcommand build" -l platform -d 'Target platform(s), repeatable or comma-separated; several make a multi-platform index [default: linux/<this machine\'s arch>]' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l base -d 'Base image for the native build: HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] in a registry, or an OCI image layout folder (`oci-layout:DIR` or DIR) [default: hale\'s static base: CA certificates, nonroot 65532, /tmp]' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l tag -d 'Extra tag(s) (`TAG` or `NAME:TAG`), besides `<name>:<version>` and `<name>:<short sha>`' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l image-version -d 'The image version [default: hale.toml `[image] tag`, the commit\'s exact git tag, `dev`]' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l oci-layout -d 'The OCI image layout folder to write [default: <path>/.hale/image/oci]' -r -F
complete -c hale -n "__fish_hale_using_subcommand build" -l archive -d 'Also write a docker-archive tar (what `docker load -i` reads)' -r -F
complete -c hale -n "__fish_hale_using_subcommand build" -l push -d 'Push the image (and its SBOM as a referrer) to HOST[:PORT]/REPOSITORY[:TAG]' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l insecure-registry -d 'A registry (HOST[:PORT]) reached over plain http although it is not on loopback' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l build-arg -d 'A Dockerfile build argument (engine path), repeatable. Build args stay in the image\'s history: pass secrets as BuildKit secret mounts, never here' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l target -d 'The Dockerfile stage to build (engine path) [default: the last one]' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l network -d 'The network of the Dockerfile\'s RUN steps (engine path): `default`, `none` (an offline build, e.g. with a vendor/ folder) or `host`' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l registry-cacert -d 'A PEM file of CA certificates trusted for registries, besides the system\'s and /etc/docker/certs.d/<host[:port]>/*.crt' -r -F
complete -c hale -n "__fish_hale_using_subcommand build" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand build" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand build" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand build" -l load -d 'Load the image into the Docker Engine at DOCKER_HOST (the host\'s platform of an index)'
complete -c hale -n "__fish_hale_using_subcommand build" -l no-cache -d 'Build every Dockerfile step again, ignoring the engine\'s cache (engine path)'
complete -c hale -n "__fish_hale_using_subcommand build" -l write-dockerfile -d 'Write the Dockerfile (and a .dockerignore when there is none) that `hale new` makes, when the folder has no Dockerfile; never overwrites'
complete -c hale -n "__fish_hale_using_subcommand build" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand build" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand build" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand build" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l check -d 'Lint manifests: DIR if given, else the set just rendered, else <path>/deploy. Exits 1 when any error-level finding remains' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l check-format -d 'How `--check` prints its findings [default: json under --output json, else text]' -r -f -a "text\t''
json\t''
sarif\t'SARIF 2.1.0, for CI code scanning'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l report -d 'Also write `--check`\'s findings to a file: junit=FILE (a test case per rule) or sarif=FILE (code scanning, with the files\' paths and lines). Repeatable' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l out -d 'Where to write: a folder [default: <path>/deploy], or `-` for the base objects on stdout' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l replicas -d 'Replicas, or the HPA\'s minimum with --max-replicas [default: hale.toml, then 2]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l max-replicas -d 'Let one HorizontalPodAutoscaler own scaling, up to N replicas' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l hpa-cpu -d 'The HPA\'s CPU utilisation target, in percent of the request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l hpa-memory -d 'Also scale on memory utilisation, in percent of the request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l cpu -d 'CPU request [default: hale.toml deploy.cpu, then 100m]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l memory -d 'Memory request [default: hale.toml deploy.memory, then 64Mi]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l memory-limit -d 'Memory limit; GOMEMLIMIT follows it [default: hale.toml deploy.memory_limit, then 128Mi]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l slo -d 'A service level objective: availability=99.9[,window=30d] or latency=p99<250ms (repeatable; replaces hale.toml deploy.slo)' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l downstream -d 'A service this one calls (repeatable): NetworkPolicy egress and dashboard panels' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l monitoring-namespace -d 'The namespace Prometheus runs in (allowed in by the NetworkPolicy)' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l prometheus-label -d 'The label the Prometheus operator selects ServiceMonitors and PrometheusRules by' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l scrape-target -d 'A target of the static prometheus.yml (repeatable) [default: 127.0.0.1:<port>]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l logs -d 'Ship the logs to Loki (pods annotated for Grafana Alloy, logging/loki.alloy) or Elasticsearch (Filebeat autodiscover hints, LOG_FORMAT=ecs, logging/filebeat.yml)' -r -f -a "loki\t'Grafana Loki, through Grafana Alloy (pods annotated, logging/loki.alloy)'
elastic\t'Elasticsearch, through Filebeat\'s (or Elastic Agent\'s) autodiscover hints'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l kubeconfig -d 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l context -d 'The kubeconfig context [default: its current-context]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -s n -l namespace -d 'The namespace [default: hale.toml deploy.namespace, then the context\'s namespace, then `default`]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l dry-run -d 'Show what would change (a diff from the API server\'s dry run) and change nothing' -r -f -a "none\t'Apply for real'
server\t'Send every request as a server-side dry run and show the diff; nothing changes'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l image -d 'Deploy this image instead of the rendered one (e.g. the digest `hale build` recorded)' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l timeout -d 'How long to wait for the rollout before giving up' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-step-weight -d 'Weight added per step, in percent [default: 10]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-max-weight -d 'The last weight before promotion, in percent [default: 50]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-interval -d 'Time between checks (at least 10s) [default: 1m]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-threshold -d 'Failed checks before the canary is rolled back [default: 1]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-window -d 'The window each check measures over [default: 1m]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-success-rate -d 'Minimum request success rate of the canary\'s pods, in percent [default: 99]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-p99 -d 'Maximum p99 latency of the canary\'s pods [default: 500ms]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l prometheus -d 'The Prometheus HTTP API the gates query [default: hale.toml deploy.canary.prometheus]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l traffic -d 'How traffic is split between canary and stable' -r -f -a "auto\t'Gateway API weights where a controller programs them, else the replica ratio'
replicas\t'The ratio of canary to stable pods behind the Service'
gateway\t'HTTPRoute and GRPCRoute weights (Gateway API)'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l render -d 'Render the manifests to files (or stdout with `--out -`) instead of applying them'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l force -d 'Overwrite files changed since hale wrote them (or that hale did not write)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l create-namespace -d 'Also render the Namespace object (labelled to enforce the restricted Pod Security Standard)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l network-policy -d 'Render a NetworkPolicy: ingress from the namespace and the monitoring namespace only'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l prune -d 'Delete objects with hale\'s labels for this service that are no longer rendered'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l force-conflicts -d 'Take over fields that another field manager owns (otherwise the conflict is reported)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l rollback-on-failure -d 'When the rollout fails or times out, undo it to the previous revision and wait for that'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l no-wait -d 'Apply and return without waiting for the rollout'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary -d 'Deploy the new build as a canary beside the stable one, shift traffic in steps, check each step against the SLO gates, then promote it or roll it back'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -l canary-load -d 'At each check, drive load with hale at every ready pod (by pod IP) for the window and judge the canary\'s instances, beside the stable ones, by hale\'s own attribution'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -a "status" -d 'The rollout state, replicas and recent events of what hale applied for the service'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -a "delete" -d 'Delete everything hale applied for the service (selected by hale\'s labels), nothing else'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -a "promote" -d 'Promote the canary in progress now (`hale deploy --canary`), from any process'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -a "abort" -d 'Roll the canary in progress back now, from any process'
complete -c hale -n "__fish_hale_using_subcommand deploy; and not __fish_seen_subcommand_from status delete promote abort help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -l kubeconfig -d 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -l context -d 'The kubeconfig context [default: its current-context]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -s n -l namespace -d 'The namespace [default: hale.toml deploy.namespace, then the context\'s namespace, then `default`]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -l watch -d 'Print the status again whenever it changes, until interrupted'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -l kubeconfig -d 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -l context -d 'The kubeconfig context [default: its current-context]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -s n -l namespace -d 'The namespace [default: hale.toml deploy.namespace, then the context\'s namespace, then `default`]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -l kubeconfig -d 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -l context -d 'The kubeconfig context [default: its current-context]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -s n -l namespace -d 'The namespace [default: hale.toml deploy.namespace, then the context\'s namespace, then `default`]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -l timeout -d 'How long to wait for the stable pods' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from promote" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -l kubeconfig -d 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)' -r -F
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -l context -d 'The kubeconfig context [default: its current-context]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -s n -l namespace -d 'The namespace [default: hale.toml deploy.namespace, then the context\'s namespace, then `default`]' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -l timeout -d 'How long to wait for the stable pods' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from abort" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from help" -f -a "status" -d 'The rollout state, replicas and recent events of what hale applied for the service'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete everything hale applied for the service (selected by hale\'s labels), nothing else'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from help" -f -a "promote" -d 'Promote the canary in progress now (`hale deploy --canary`), from any process'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from help" -f -a "abort" -d 'Roll the canary in progress back now, from any process'
complete -c hale -n "__fish_hale_using_subcommand deploy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand up" -l replicas -d 'How many instances to run. On a running fleet, starts or stops instances to match' -r
complete -c hale -n "__fish_hale_using_subcommand up" -l registry -d 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]' -r
complete -c hale -n "__fish_hale_using_subcommand up" -l ready-timeout -d 'How long the instances may take to answer 200 on /readyz' -r
complete -c hale -n "__fish_hale_using_subcommand up" -l runtime -d 'Where the instances run: processes, or containers of the built image' -r -f -a "process\t'Local processes of the binary `go build` makes'
docker\t'Containers of the image `hale build --load` made, through the Docker Engine (DOCKER_HOST or the default socket)'"
complete -c hale -n "__fish_hale_using_subcommand up" -l image -d 'The image to run with `--runtime docker` [default: the one `.hale/build.json` names]' -r
complete -c hale -n "__fish_hale_using_subcommand up" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand up" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand up" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand up" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand up" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand up" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand ps" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand ps" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand ps" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand ps" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand ps" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand ps" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand ps" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand down" -l grace -d 'How long each instance may take to exit after SIGTERM before it is killed; 0s kills at once (no drain: hale deregisters them)' -r
complete -c hale -n "__fish_hale_using_subcommand down" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand down" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand down" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand down" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand down" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand down" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand down" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand register" -l registry -d 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l layout -d 'etcd key layout: hale\'s own, or the one go-zero or kratos services read' -r -f -a "hale\t'`/hale/services/<name>/<id>` → JSON instance'
go-zero\t'go-zero\'s `core/discov`: `<name>/<lease id>` → `host:port`'
kratos\t'kratos\' `contrib/registry/etcd`: `/microservices/<name>/<id>` → JSON'"
complete -c hale -n "__fish_hale_using_subcommand register" -l name -d 'Service name' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l address -d 'Where the instance answers, HOST:PORT' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l check -d 'HTTP health path the registry checks (Consul runs it every 5 s)' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l ttl -d 'How long the entry lives without a heartbeat; heartbeats go every TTL/3' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l id -d 'Instance id, a DNS-1123 label [default: <name>-<host>-<port> with \'.\' and \':\' as \'-\']' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l tag -d 'A tag (repeatable)' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l meta -d 'Metadata KEY=VALUE (repeatable), e.g. version=1.2.0 or weight=3' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand register" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand register" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand register" -l replace -d 'Take over an id another live instance holds'
complete -c hale -n "__fish_hale_using_subcommand register" -l once -d 'Register and exit, leaving the entry to expire after its TTL (no heartbeat)'
complete -c hale -n "__fish_hale_using_subcommand register" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand register" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand register" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand register" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deregister" -l registry -d 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]' -r
complete -c hale -n "__fish_hale_using_subcommand deregister" -l layout -d 'etcd key layout: hale\'s own, or the one go-zero or kratos services read' -r -f -a "hale\t'`/hale/services/<name>/<id>` → JSON instance'
go-zero\t'go-zero\'s `core/discov`: `<name>/<lease id>` → `host:port`'
kratos\t'kratos\' `contrib/registry/etcd`: `/microservices/<name>/<id>` → JSON'"
complete -c hale -n "__fish_hale_using_subcommand deregister" -l name -d 'Service name' -r
complete -c hale -n "__fish_hale_using_subcommand deregister" -l id -d 'Instance id (for the go-zero layout: the lease id)' -r
complete -c hale -n "__fish_hale_using_subcommand deregister" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand deregister" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deregister" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand deregister" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deregister" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deregister" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deregister" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand discover" -l registry -d 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]' -r
complete -c hale -n "__fish_hale_using_subcommand discover" -l layout -d 'etcd key layout: hale\'s own, or the one go-zero or kratos services read' -r -f -a "hale\t'`/hale/services/<name>/<id>` → JSON instance'
go-zero\t'go-zero\'s `core/discov`: `<name>/<lease id>` → `host:port`'
kratos\t'kratos\' `contrib/registry/etcd`: `/microservices/<name>/<id>` → JSON'"
complete -c hale -n "__fish_hale_using_subcommand discover" -l timeout -d 'Stop watching after this long (with --watch)' -r
complete -c hale -n "__fish_hale_using_subcommand discover" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand discover" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand discover" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand discover" -l watch -d 'Print the instances again on every change until Ctrl-C (or --timeout)'
complete -c hale -n "__fish_hale_using_subcommand discover" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand discover" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand discover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand discover" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand load" -l registry -d 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l layout -d 'etcd key layout: hale\'s own, or the one go-zero or kratos services read' -r -f -a "hale\t'`/hale/services/<name>/<id>` → JSON instance'
go-zero\t'go-zero\'s `core/discov`: `<name>/<lease id>` → `host:port`'
kratos\t'kratos\' `contrib/registry/etcd`: `/microservices/<name>/<id>` → JSON'"
complete -c hale -n "__fish_hale_using_subcommand load" -l endpoints -d 'Fixed instances: host:port,host:port,...' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l url -d 'One target URL (http://host:port/path or https://…)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l path -d 'Request path and query' -r
complete -c hale -n "__fish_hale_using_subcommand load" -s X -l method -d 'HTTP method' -r
complete -c hale -n "__fish_hale_using_subcommand load" -s H -l header -d 'Request header "Name: value" (repeatable)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l body -d 'Request body' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l body-file -d 'Request body read from a file' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -l grpc -d 'Send unary gRPC calls of this method (PACKAGE.SERVICE/METHOD) over HTTP/2 instead of HTTP requests; --body is the request message in JSON [default: {}], -H adds metadata. Without --proto the descriptors come from the target\'s server reflection' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l proto -d 'The .proto file that defines --grpc\'s method (imports resolved beside it) [default: ask the target\'s server reflection]' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -s c -l concurrency -d 'Closed model: connections (workers); open model: most requests in flight' -r
complete -c hale -n "__fish_hale_using_subcommand load" -s r -l rate -d 'Open model: target requests per second' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l arrivals -d 'Open model arrivals' -r -f -a "constant\t'Evenly spaced at 1/rate'
poisson\t'Exponential gaps with mean 1/rate (a Poisson process)'"
complete -c hale -n "__fish_hale_using_subcommand load" -l profile -d 'Open model rate profile: ramp:FROM-TO or steps:R1,R2,R3 (replaces --rate\'s constant)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -s d -l duration -d 'How long to send (default 10s unless --requests is given)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -s n -l requests -d 'Stop after this many requests' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l timeout -d 'Per-request timeout' -r
complete -c hale -n "__fish_hale_using_subcommand load" -s s -l strategy -d 'Balancing strategy' -r -f -a "round-robin\t'Each instance in turn'
weighted-round-robin\t'nginx\'s smooth weighted round robin over the registry\'s `weight` meta'
least-connections\t'The endpoint with the fewest requests in flight (ties rotate)'
p2c-ewma\t'Power of two choices over peak-EWMA cost: rtt × (pending + 1)'
random\t'A uniformly random instance'
consistent-hash\t'Consistent hashing on a request header (ring or jump hash)'"
complete -c hale -n "__fish_hale_using_subcommand load" -l hash-header -d 'Consistent hashing: the header whose value is hashed (a fixed -H value, or one of --hash-keys generated keys per request)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l hash -d 'Consistent hashing algorithm' -r -f -a "ring\t'Ketama-style ring with virtual nodes: adding or removing one endpoint moves ~1/n keys'
jump\t'Lamping & Veach jump hash: no memory, perfectly even, but only stable for appends'"
complete -c hale -n "__fish_hale_using_subcommand load" -l hash-keys -d 'Distinct generated keys for --hash-header' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker -d 'Instance protection' -r -f -a "three-state\t'Per-instance three-state breaker: closed, open, half-open'
adaptive\t'Google SRE client-side throttling per instance'
off\t'Every pick goes through'"
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker-failure-rate -d 'Three-state: failure rate that opens the breaker' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker-min-calls -d 'Three-state: calls in the window before the failure rate counts' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker-consecutive -d 'Three-state: consecutive failures that open the breaker' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker-window -d 'Three-state: failure-rate window' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker-open -d 'Three-state: how long the breaker stays open before probing' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l breaker-probes -d 'Three-state: half-open probes that must succeed to close' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l adaptive-k -d 'Adaptive: K in max(0, (requests − K·accepts)/(requests + 1))' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l retries -d 'Retries per request on instance failures, bounded by a 20 % + 10/s retry budget' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l max-ejected -d 'Largest share of instances ejected at once (at least one may be, at least one stays)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l seed -d 'Seed of the arrival schedule and the random choices: replay a run with another strategy' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l fault -d 'Inject a fault through the fleet: at=10s,kill=ID | at=20s,restore=ID | at=5s,error-rate=ID:0.5 | at=5s,latency=ID:200ms (repeatable)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l fleet -d 'Service folder holding .hale/fleet.json (for --fault)' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -l assert -d 'Fail (exit 99) unless this holds: p50|p90|p99|p999|max<DURATION, errors<N|P%, rps>N, recover<DURATION, open<DURATION, dead<N, share-deviation<P%, jain>X (repeatable)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l report -d 'Write a report: FILE.html (or html=FILE) the self-contained page, junit=FILE one JUnit test case per --assert (repeatable)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l histogram-out -d 'Write the HDR histograms (V2, base64) per instance and in total' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -l scheme -d 'http or https for --endpoints and for every instance of SERVICE (default: http, and each registry instance\'s own: meta scheme=https or the tag https)' -r -f -a "http\t''
https\t''"
complete -c hale -n "__fish_hale_using_subcommand load" -l cacert -d 'HTTPS: trust only the CA certificates in this PEM file (instead of the system\'s)' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -l shards -d '--on-cluster: how many pods (shards) share the plan' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l shard-registry -d '--on-cluster: the repository (host[:port]/path) the shard image of hale is pushed to' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l shard-image -d '--on-cluster: a hale image the nodes can pull already (instead of --shard-registry)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l shard-node-selector -d '--on-cluster: a node label the shard pods must match, KEY=VALUE (repeatable)' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l kubeconfig -d '--on-cluster: the kubeconfig file (replaces KUBECONFIG and ~/.kube/config)' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -l context -d '--on-cluster: the kubeconfig context [default: its current-context]' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l namespace -d '--on-cluster: the namespace of the Service and of the shards\' Job [default: the context\'s, then `default`]' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l merge -d 'Merge --histogram-out files (no load is sent) and print their percentiles' -r -F
complete -c hale -n "__fish_hale_using_subcommand load" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand load" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand load" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand load" -l keep-faults -d 'Leave the error-rate and latency faults the run injected in place when it ends (by default they are reset to zero at the end, on Ctrl-C and on SIGTERM)'
complete -c hale -n "__fish_hale_using_subcommand load" -s k -l insecure -d 'HTTPS: accept any server certificate (test servers only)'
complete -c hale -n "__fish_hale_using_subcommand load" -l on-cluster -d 'Run the load from the cluster: SERVICE is the name of a Kubernetes Service in --namespace (its ready pods followed live through its EndpointSlices) or, with --registry consul://HOST:PORT or etcd://HOST:PORT as the pods reach it, a registry\'s service that every shard follows itself; or --url an http:// or https:// URL as the pods see it (https: the shards trust --cacert, or this machine\'s system roots). The plan is split into --shards pods of one Indexed Job, their results merged into one report'
complete -c hale -n "__fish_hale_using_subcommand load" -l allow-shard-failures -d '--on-cluster: report the shards that ran when others fail (exit 0 unless the rest fails)'
complete -c hale -n "__fish_hale_using_subcommand load" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand load" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand load" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand load" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand completions" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand completions" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand completions" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand completions" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand completions" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand completions" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand man" -l dir -d 'Write hale.1 and one page per subcommand (hale-new.1, ...) into this folder instead of printing hale.1 to stdout' -r -F
complete -c hale -n "__fish_hale_using_subcommand man" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json/'"
complete -c hale -n "__fish_hale_using_subcommand man" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand man" -l network-timeout -d 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request' -r
complete -c hale -n "__fish_hale_using_subcommand man" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand man" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand man" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "new" -d 'Scaffold a production-grade Go microservice'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "upgrade" -d 'Bring a service made by `hale new` up to the current templates, keeping your changes'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "templates" -d 'Work with the service templates (export the built-in set to customise it)'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "build" -d 'Build a minimal, non-root container image of a service'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "deploy" -d 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "up" -d 'Build a service and run N instances of it locally, each self-registering'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "ps" -d 'List the local instances `hale up` started, with their health'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "down" -d 'Stop the local instances gracefully and remove their state'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "register" -d 'Register an instance in a registry and keep it alive until stopped'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "deregister" -d 'Remove an instance from a registry'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "discover" -d 'List the healthy instances of a service, or follow them with --watch'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "load" -d 'Load-test a fleet through client-side balancing and circuit breakers'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "man" -d 'Write the man page'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new upgrade templates build deploy up ps down register deregister discover load completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand help; and __fish_seen_subcommand_from templates" -f -a "export" -d 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
complete -c hale -n "__fish_hale_using_subcommand help; and __fish_seen_subcommand_from deploy" -f -a "status" -d 'The rollout state, replicas and recent events of what hale applied for the service'
complete -c hale -n "__fish_hale_using_subcommand help; and __fish_seen_subcommand_from deploy" -f -a "delete" -d 'Delete everything hale applied for the service (selected by hale\'s labels), nothing else'
complete -c hale -n "__fish_hale_using_subcommand help; and __fish_seen_subcommand_from deploy" -f -a "promote" -d 'Promote the canary in progress now (`hale deploy --canary`), from any process'
complete -c hale -n "__fish_hale_using_subcommand help; and __fish_seen_subcommand_from deploy" -f -a "abort" -d 'Roll the canary in progress back now, from any process'
