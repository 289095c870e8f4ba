
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'hale' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'hale'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'hale' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('new', 'new', [CompletionResultType]::ParameterValue, 'Scaffold a production-grade Go microservice')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Bring a service made by `hale new` up to the current templates, keeping your changes')
            [CompletionResult]::new('templates', 'templates', [CompletionResultType]::ParameterValue, 'Work with the service templates (export the built-in set to customise it)')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Build a minimal, non-root container image of a service')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build a service and run N instances of it locally, each self-registering')
            [CompletionResult]::new('ps', 'ps', [CompletionResultType]::ParameterValue, 'List the local instances `hale up` started, with their health')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Stop the local instances gracefully and remove their state')
            [CompletionResult]::new('register', 'register', [CompletionResultType]::ParameterValue, 'Register an instance in a registry and keep it alive until stopped')
            [CompletionResult]::new('deregister', 'deregister', [CompletionResultType]::ParameterValue, 'Remove an instance from a registry')
            [CompletionResult]::new('discover', 'discover', [CompletionResultType]::ParameterValue, 'List the healthy instances of a service, or follow them with --watch')
            [CompletionResult]::new('load', 'load', [CompletionResultType]::ParameterValue, 'Load-test a fleet through client-side balancing and circuit breakers')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write the man page')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hale;new' {
            [CompletionResult]::new('--module', '--module', [CompletionResultType]::ParameterName, 'Go module path [default: example.com/<NAME>]')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Folder to create [default: ./<NAME>]')
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Use the templates in this folder instead of the built-in set')
            [CompletionResult]::new('--ci', '--ci', [CompletionResultType]::ParameterName, 'The CI pipeline to write: GitHub Actions (.github/workflows/ci.yml), GitLab CI (.gitlab-ci.yml) or none')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Write into a non-empty folder, replacing the generated files there')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'List the files that would be written, and write nothing')
            [CompletionResult]::new('--no-tidy', '--no-tidy', [CompletionResultType]::ParameterName, 'Do not run `go mod tidy` after writing')
            [CompletionResult]::new('--grpc', '--grpc', [CompletionResultType]::ParameterName, 'Add a gRPC API beside the HTTP one, on the same port: api/NAME/v1/NAME.proto, its generated Go code, and the gRPC server with health, metrics and interceptors')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;upgrade' {
            [CompletionResult]::new('--templates', '--templates', [CompletionResultType]::ParameterName, 'Upgrade to the templates in this folder instead of the built-in set')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--merge', '--merge', [CompletionResultType]::ParameterName, 'Write a three-way merge, with conflict markers, into files you changed, instead of leaving them alone')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the changes as a unified diff, and write nothing')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;templates' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write the built-in templates into DIR; use them with `hale new --templates DIR`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hale;templates;export' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Write into a non-empty folder, replacing the template files there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;templates;help' {
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write the built-in templates into DIR; use them with `hale new --templates DIR`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hale;templates;help;export' {
            break
        }
        'hale;templates;help;help' {
            break
        }
        'hale;build' {
            [CompletionResult]::new('--engine', '--engine', [CompletionResultType]::ParameterName, 'How to build')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'Target platform(s), repeatable or comma-separated; several make a multi-platform index [default: linux/<this machine''s arch>]')
            [CompletionResult]::new('--base', '--base', [CompletionResultType]::ParameterName, 'Base image for the native build: HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] in a registry, or an OCI image layout folder (`oci-layout:DIR` or DIR) [default: hale''s static base: CA certificates, nonroot 65532, /tmp]')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Extra tag(s) (`TAG` or `NAME:TAG`), besides `<name>:<version>` and `<name>:<short sha>`')
            [CompletionResult]::new('--image-version', '--image-version', [CompletionResultType]::ParameterName, 'The image version [default: hale.toml `[image] tag`, the commit''s exact git tag, `dev`]')
            [CompletionResult]::new('--oci-layout', '--oci-layout', [CompletionResultType]::ParameterName, 'The OCI image layout folder to write [default: <path>/.hale/image/oci]')
            [CompletionResult]::new('--archive', '--archive', [CompletionResultType]::ParameterName, 'Also write a docker-archive tar (what `docker load -i` reads)')
            [CompletionResult]::new('--push', '--push', [CompletionResultType]::ParameterName, 'Push the image (and its SBOM as a referrer) to HOST[:PORT]/REPOSITORY[:TAG]')
            [CompletionResult]::new('--insecure-registry', '--insecure-registry', [CompletionResultType]::ParameterName, 'A registry (HOST[:PORT]) reached over plain http although it is not on loopback')
            [CompletionResult]::new('--build-arg', '--build-arg', [CompletionResultType]::ParameterName, 'A Dockerfile build argument (engine path), repeatable. Build args stay in the image''s history: pass secrets as BuildKit secret mounts, never here')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'The Dockerfile stage to build (engine path) [default: the last one]')
            [CompletionResult]::new('--network', '--network', [CompletionResultType]::ParameterName, 'The network of the Dockerfile''s RUN steps (engine path): `default`, `none` (an offline build, e.g. with a vendor/ folder) or `host`')
            [CompletionResult]::new('--registry-cacert', '--registry-cacert', [CompletionResultType]::ParameterName, 'A PEM file of CA certificates trusted for registries, besides the system''s and /etc/docker/certs.d/<host[:port]>/*.crt')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--load', '--load', [CompletionResultType]::ParameterName, 'Load the image into the Docker Engine at DOCKER_HOST (the host''s platform of an index)')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Build every Dockerfile step again, ignoring the engine''s cache (engine path)')
            [CompletionResult]::new('--write-dockerfile', '--write-dockerfile', [CompletionResultType]::ParameterName, 'Write the Dockerfile (and a .dockerignore when there is none) that `hale new` makes, when the folder has no Dockerfile; never overwrites')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;deploy' {
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Lint manifests: DIR if given, else the set just rendered, else <path>/deploy. Exits 1 when any error-level finding remains')
            [CompletionResult]::new('--check-format', '--check-format', [CompletionResultType]::ParameterName, 'How `--check` prints its findings [default: json under --output json, else text]')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Also write `--check`''s findings to a file: junit=FILE (a test case per rule) or sarif=FILE (code scanning, with the files'' paths and lines). Repeatable')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where to write: a folder [default: <path>/deploy], or `-` for the base objects on stdout')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Replicas, or the HPA''s minimum with --max-replicas [default: hale.toml, then 2]')
            [CompletionResult]::new('--max-replicas', '--max-replicas', [CompletionResultType]::ParameterName, 'Let one HorizontalPodAutoscaler own scaling, up to N replicas')
            [CompletionResult]::new('--hpa-cpu', '--hpa-cpu', [CompletionResultType]::ParameterName, 'The HPA''s CPU utilisation target, in percent of the request')
            [CompletionResult]::new('--hpa-memory', '--hpa-memory', [CompletionResultType]::ParameterName, 'Also scale on memory utilisation, in percent of the request')
            [CompletionResult]::new('--cpu', '--cpu', [CompletionResultType]::ParameterName, 'CPU request [default: hale.toml deploy.cpu, then 100m]')
            [CompletionResult]::new('--memory', '--memory', [CompletionResultType]::ParameterName, 'Memory request [default: hale.toml deploy.memory, then 64Mi]')
            [CompletionResult]::new('--memory-limit', '--memory-limit', [CompletionResultType]::ParameterName, 'Memory limit; GOMEMLIMIT follows it [default: hale.toml deploy.memory_limit, then 128Mi]')
            [CompletionResult]::new('--slo', '--slo', [CompletionResultType]::ParameterName, 'A service level objective: availability=99.9[,window=30d] or latency=p99<250ms (repeatable; replaces hale.toml deploy.slo)')
            [CompletionResult]::new('--downstream', '--downstream', [CompletionResultType]::ParameterName, 'A service this one calls (repeatable): NetworkPolicy egress and dashboard panels')
            [CompletionResult]::new('--monitoring-namespace', '--monitoring-namespace', [CompletionResultType]::ParameterName, 'The namespace Prometheus runs in (allowed in by the NetworkPolicy)')
            [CompletionResult]::new('--prometheus-label', '--prometheus-label', [CompletionResultType]::ParameterName, 'The label the Prometheus operator selects ServiceMonitors and PrometheusRules by')
            [CompletionResult]::new('--scrape-target', '--scrape-target', [CompletionResultType]::ParameterName, 'A target of the static prometheus.yml (repeatable) [default: 127.0.0.1:<port>]')
            [CompletionResult]::new('--logs', '--logs', [CompletionResultType]::ParameterName, 'Ship the logs to Loki (pods annotated for Grafana Alloy, logging/loki.alloy) or Elasticsearch (Filebeat autodiscover hints, LOG_FORMAT=ecs, logging/filebeat.yml)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context [default: its current-context]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change (a diff from the API server''s dry run) and change nothing')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'Deploy this image instead of the rendered one (e.g. the digest `hale build` recorded)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the rollout before giving up')
            [CompletionResult]::new('--canary-step-weight', '--canary-step-weight', [CompletionResultType]::ParameterName, 'Weight added per step, in percent [default: 10]')
            [CompletionResult]::new('--canary-max-weight', '--canary-max-weight', [CompletionResultType]::ParameterName, 'The last weight before promotion, in percent [default: 50]')
            [CompletionResult]::new('--canary-interval', '--canary-interval', [CompletionResultType]::ParameterName, 'Time between checks (at least 10s) [default: 1m]')
            [CompletionResult]::new('--canary-threshold', '--canary-threshold', [CompletionResultType]::ParameterName, 'Failed checks before the canary is rolled back [default: 1]')
            [CompletionResult]::new('--canary-window', '--canary-window', [CompletionResultType]::ParameterName, 'The window each check measures over [default: 1m]')
            [CompletionResult]::new('--canary-success-rate', '--canary-success-rate', [CompletionResultType]::ParameterName, 'Minimum request success rate of the canary''s pods, in percent [default: 99]')
            [CompletionResult]::new('--canary-p99', '--canary-p99', [CompletionResultType]::ParameterName, 'Maximum p99 latency of the canary''s pods [default: 500ms]')
            [CompletionResult]::new('--prometheus', '--prometheus', [CompletionResultType]::ParameterName, 'The Prometheus HTTP API the gates query [default: hale.toml deploy.canary.prometheus]')
            [CompletionResult]::new('--traffic', '--traffic', [CompletionResultType]::ParameterName, 'How traffic is split between canary and stable')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--render', '--render', [CompletionResultType]::ParameterName, 'Render the manifests to files (or stdout with `--out -`) instead of applying them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite files changed since hale wrote them (or that hale did not write)')
            [CompletionResult]::new('--create-namespace', '--create-namespace', [CompletionResultType]::ParameterName, 'Also render the Namespace object (labelled to enforce the restricted Pod Security Standard)')
            [CompletionResult]::new('--network-policy', '--network-policy', [CompletionResultType]::ParameterName, 'Render a NetworkPolicy: ingress from the namespace and the monitoring namespace only')
            [CompletionResult]::new('--prune', '--prune', [CompletionResultType]::ParameterName, 'Delete objects with hale''s labels for this service that are no longer rendered')
            [CompletionResult]::new('--force-conflicts', '--force-conflicts', [CompletionResultType]::ParameterName, 'Take over fields that another field manager owns (otherwise the conflict is reported)')
            [CompletionResult]::new('--rollback-on-failure', '--rollback-on-failure', [CompletionResultType]::ParameterName, 'When the rollout fails or times out, undo it to the previous revision and wait for that')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Apply and return without waiting for the rollout')
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'Deploy the new build as a canary beside the stable one, shift traffic in steps, check each step against the SLO gates, then promote it or roll it back')
            [CompletionResult]::new('--canary-load', '--canary-load', [CompletionResultType]::ParameterName, 'At each check, drive load with hale at every ready pod (by pod IP) for the window and judge the canary''s instances, beside the stable ones, by hale''s own attribution')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The rollout state, replicas and recent events of what hale applied for the service')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete everything hale applied for the service (selected by hale''s labels), nothing else')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Promote the canary in progress now (`hale deploy --canary`), from any process')
            [CompletionResult]::new('abort', 'abort', [CompletionResultType]::ParameterValue, 'Roll the canary in progress back now, from any process')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hale;deploy;status' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context [default: its current-context]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Print the status again whenever it changes, until interrupted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;deploy;delete' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context [default: its current-context]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;deploy;promote' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context [default: its current-context]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the stable pods')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;deploy;abort' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'The kubeconfig file (replaces KUBECONFIG and ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context [default: its current-context]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace [default: hale.toml deploy.namespace, then the context''s namespace, then `default`]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the stable pods')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;deploy;help' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The rollout state, replicas and recent events of what hale applied for the service')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete everything hale applied for the service (selected by hale''s labels), nothing else')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Promote the canary in progress now (`hale deploy --canary`), from any process')
            [CompletionResult]::new('abort', 'abort', [CompletionResultType]::ParameterValue, 'Roll the canary in progress back now, from any process')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hale;deploy;help;status' {
            break
        }
        'hale;deploy;help;delete' {
            break
        }
        'hale;deploy;help;promote' {
            break
        }
        'hale;deploy;help;abort' {
            break
        }
        'hale;deploy;help;help' {
            break
        }
        'hale;up' {
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'How many instances to run. On a running fleet, starts or stops instances to match')
            [CompletionResult]::new('--registry', '--registry', [CompletionResultType]::ParameterName, 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]')
            [CompletionResult]::new('--ready-timeout', '--ready-timeout', [CompletionResultType]::ParameterName, 'How long the instances may take to answer 200 on /readyz')
            [CompletionResult]::new('--runtime', '--runtime', [CompletionResultType]::ParameterName, 'Where the instances run: processes, or containers of the built image')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The image to run with `--runtime docker` [default: the one `.hale/build.json` names]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;ps' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;down' {
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'How long each instance may take to exit after SIGTERM before it is killed; 0s kills at once (no drain: hale deregisters them)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;register' {
            [CompletionResult]::new('--registry', '--registry', [CompletionResultType]::ParameterName, 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]')
            [CompletionResult]::new('--layout', '--layout', [CompletionResultType]::ParameterName, 'etcd key layout: hale''s own, or the one go-zero or kratos services read')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Service name')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Where the instance answers, HOST:PORT')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'HTTP health path the registry checks (Consul runs it every 5 s)')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'How long the entry lives without a heartbeat; heartbeats go every TTL/3')
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'Instance id, a DNS-1123 label [default: <name>-<host>-<port> with ''.'' and '':'' as ''-'']')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'A tag (repeatable)')
            [CompletionResult]::new('--meta', '--meta', [CompletionResultType]::ParameterName, 'Metadata KEY=VALUE (repeatable), e.g. version=1.2.0 or weight=3')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--replace', '--replace', [CompletionResultType]::ParameterName, 'Take over an id another live instance holds')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Register and exit, leaving the entry to expire after its TTL (no heartbeat)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;deregister' {
            [CompletionResult]::new('--registry', '--registry', [CompletionResultType]::ParameterName, 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]')
            [CompletionResult]::new('--layout', '--layout', [CompletionResultType]::ParameterName, 'etcd key layout: hale''s own, or the one go-zero or kratos services read')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Service name')
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'Instance id (for the go-zero layout: the lease id)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;discover' {
            [CompletionResult]::new('--registry', '--registry', [CompletionResultType]::ParameterName, 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]')
            [CompletionResult]::new('--layout', '--layout', [CompletionResultType]::ParameterName, 'etcd key layout: hale''s own, or the one go-zero or kratos services read')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Stop watching after this long (with --watch)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Print the instances again on every change until Ctrl-C (or --timeout)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;load' {
            [CompletionResult]::new('--registry', '--registry', [CompletionResultType]::ParameterName, 'Registry URL: consul://host:port, etcd://host:port or file://PATH [default: HALE_REGISTRY, hale.toml, then the embedded file registry]')
            [CompletionResult]::new('--layout', '--layout', [CompletionResultType]::ParameterName, 'etcd key layout: hale''s own, or the one go-zero or kratos services read')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'Fixed instances: host:port,host:port,...')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'One target URL (http://host:port/path or https://…)')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Request path and query')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'HTTP method')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'HTTP method')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Request header "Name: value" (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Request header "Name: value" (repeatable)')
            [CompletionResult]::new('--body', '--body', [CompletionResultType]::ParameterName, 'Request body')
            [CompletionResult]::new('--body-file', '--body-file', [CompletionResultType]::ParameterName, 'Request body read from a file')
            [CompletionResult]::new('--grpc', '--grpc', [CompletionResultType]::ParameterName, 'Send unary gRPC calls of this method (PACKAGE.SERVICE/METHOD) over HTTP/2 instead of HTTP requests; --body is the request message in JSON [default: {}], -H adds metadata. Without --proto the descriptors come from the target''s server reflection')
            [CompletionResult]::new('--proto', '--proto', [CompletionResultType]::ParameterName, 'The .proto file that defines --grpc''s method (imports resolved beside it) [default: ask the target''s server reflection]')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Closed model: connections (workers); open model: most requests in flight')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Closed model: connections (workers); open model: most requests in flight')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Open model: target requests per second')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Open model: target requests per second')
            [CompletionResult]::new('--arrivals', '--arrivals', [CompletionResultType]::ParameterName, 'Open model arrivals')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Open model rate profile: ramp:FROM-TO or steps:R1,R2,R3 (replaces --rate''s constant)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to send (default 10s unless --requests is given)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to send (default 10s unless --requests is given)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Stop after this many requests')
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Stop after this many requests')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Per-request timeout')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Balancing strategy')
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'Balancing strategy')
            [CompletionResult]::new('--hash-header', '--hash-header', [CompletionResultType]::ParameterName, 'Consistent hashing: the header whose value is hashed (a fixed -H value, or one of --hash-keys generated keys per request)')
            [CompletionResult]::new('--hash', '--hash', [CompletionResultType]::ParameterName, 'Consistent hashing algorithm')
            [CompletionResult]::new('--hash-keys', '--hash-keys', [CompletionResultType]::ParameterName, 'Distinct generated keys for --hash-header')
            [CompletionResult]::new('--breaker', '--breaker', [CompletionResultType]::ParameterName, 'Instance protection')
            [CompletionResult]::new('--breaker-failure-rate', '--breaker-failure-rate', [CompletionResultType]::ParameterName, 'Three-state: failure rate that opens the breaker')
            [CompletionResult]::new('--breaker-min-calls', '--breaker-min-calls', [CompletionResultType]::ParameterName, 'Three-state: calls in the window before the failure rate counts')
            [CompletionResult]::new('--breaker-consecutive', '--breaker-consecutive', [CompletionResultType]::ParameterName, 'Three-state: consecutive failures that open the breaker')
            [CompletionResult]::new('--breaker-window', '--breaker-window', [CompletionResultType]::ParameterName, 'Three-state: failure-rate window')
            [CompletionResult]::new('--breaker-open', '--breaker-open', [CompletionResultType]::ParameterName, 'Three-state: how long the breaker stays open before probing')
            [CompletionResult]::new('--breaker-probes', '--breaker-probes', [CompletionResultType]::ParameterName, 'Three-state: half-open probes that must succeed to close')
            [CompletionResult]::new('--adaptive-k', '--adaptive-k', [CompletionResultType]::ParameterName, 'Adaptive: K in max(0, (requests − K·accepts)/(requests + 1))')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries per request on instance failures, bounded by a 20 % + 10/s retry budget')
            [CompletionResult]::new('--max-ejected', '--max-ejected', [CompletionResultType]::ParameterName, 'Largest share of instances ejected at once (at least one may be, at least one stays)')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed of the arrival schedule and the random choices: replay a run with another strategy')
            [CompletionResult]::new('--fault', '--fault', [CompletionResultType]::ParameterName, 'Inject a fault through the fleet: at=10s,kill=ID | at=20s,restore=ID | at=5s,error-rate=ID:0.5 | at=5s,latency=ID:200ms (repeatable)')
            [CompletionResult]::new('--fleet', '--fleet', [CompletionResultType]::ParameterName, 'Service folder holding .hale/fleet.json (for --fault)')
            [CompletionResult]::new('--assert', '--assert', [CompletionResultType]::ParameterName, 'Fail (exit 99) unless this holds: p50|p90|p99|p999|max<DURATION, errors<N|P%, rps>N, recover<DURATION, open<DURATION, dead<N, share-deviation<P%, jain>X (repeatable)')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Write a report: FILE.html (or html=FILE) the self-contained page, junit=FILE one JUnit test case per --assert (repeatable)')
            [CompletionResult]::new('--histogram-out', '--histogram-out', [CompletionResultType]::ParameterName, 'Write the HDR histograms (V2, base64) per instance and in total')
            [CompletionResult]::new('--scheme', '--scheme', [CompletionResultType]::ParameterName, 'http or https for --endpoints and for every instance of SERVICE (default: http, and each registry instance''s own: meta scheme=https or the tag https)')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'HTTPS: trust only the CA certificates in this PEM file (instead of the system''s)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, '--on-cluster: how many pods (shards) share the plan')
            [CompletionResult]::new('--shard-registry', '--shard-registry', [CompletionResultType]::ParameterName, '--on-cluster: the repository (host[:port]/path) the shard image of hale is pushed to')
            [CompletionResult]::new('--shard-image', '--shard-image', [CompletionResultType]::ParameterName, '--on-cluster: a hale image the nodes can pull already (instead of --shard-registry)')
            [CompletionResult]::new('--shard-node-selector', '--shard-node-selector', [CompletionResultType]::ParameterName, '--on-cluster: a node label the shard pods must match, KEY=VALUE (repeatable)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, '--on-cluster: the kubeconfig file (replaces KUBECONFIG and ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, '--on-cluster: the kubeconfig context [default: its current-context]')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, '--on-cluster: the namespace of the Service and of the shards'' Job [default: the context''s, then `default`]')
            [CompletionResult]::new('--merge', '--merge', [CompletionResultType]::ParameterName, 'Merge --histogram-out files (no load is sent) and print their percentiles')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('--keep-faults', '--keep-faults', [CompletionResultType]::ParameterName, 'Leave the error-rate and latency faults the run injected in place when it ends (by default they are reset to zero at the end, on Ctrl-C and on SIGTERM)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'HTTPS: accept any server certificate (test servers only)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'HTTPS: accept any server certificate (test servers only)')
            [CompletionResult]::new('--on-cluster', '--on-cluster', [CompletionResultType]::ParameterName, 'Run the load from the cluster: SERVICE is the name of a Kubernetes Service in --namespace (its ready pods followed live through its EndpointSlices) or, with --registry consul://HOST:PORT or etcd://HOST:PORT as the pods reach it, a registry''s service that every shard follows itself; or --url an http:// or https:// URL as the pods see it (https: the shards trust --cacert, or this machine''s system roots). The plan is split into --shards pods of one Indexed Job, their results merged into one report')
            [CompletionResult]::new('--allow-shard-failures', '--allow-shard-failures', [CompletionResultType]::ParameterName, '--on-cluster: report the shards that ran when others fail (exit 0 unless the rest fails)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;completions' {
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;man' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Write hale.1 and one page per subcommand (hale-new.1, ...) into this folder instead of printing hale.1 to stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human text, or one stable JSON document on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr. NO_COLOR in the environment turns `auto` off')
            [CompletionResult]::new('--network-timeout', '--network-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a registry, Consul, etcd, the Kubernetes API or the Docker Engine to connect and to answer each request')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hale;help' {
            [CompletionResult]::new('new', 'new', [CompletionResultType]::ParameterValue, 'Scaffold a production-grade Go microservice')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Bring a service made by `hale new` up to the current templates, keeping your changes')
            [CompletionResult]::new('templates', 'templates', [CompletionResultType]::ParameterValue, 'Work with the service templates (export the built-in set to customise it)')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Build a minimal, non-root container image of a service')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build a service and run N instances of it locally, each self-registering')
            [CompletionResult]::new('ps', 'ps', [CompletionResultType]::ParameterValue, 'List the local instances `hale up` started, with their health')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Stop the local instances gracefully and remove their state')
            [CompletionResult]::new('register', 'register', [CompletionResultType]::ParameterValue, 'Register an instance in a registry and keep it alive until stopped')
            [CompletionResult]::new('deregister', 'deregister', [CompletionResultType]::ParameterValue, 'Remove an instance from a registry')
            [CompletionResult]::new('discover', 'discover', [CompletionResultType]::ParameterValue, 'List the healthy instances of a service, or follow them with --watch')
            [CompletionResult]::new('load', 'load', [CompletionResultType]::ParameterValue, 'Load-test a fleet through client-side balancing and circuit breakers')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write the man page')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hale;help;new' {
            break
        }
        'hale;help;upgrade' {
            break
        }
        'hale;help;templates' {
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write the built-in templates into DIR; use them with `hale new --templates DIR`')
            break
        }
        'hale;help;templates;export' {
            break
        }
        'hale;help;build' {
            break
        }
        'hale;help;deploy' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The rollout state, replicas and recent events of what hale applied for the service')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete everything hale applied for the service (selected by hale''s labels), nothing else')
            [CompletionResult]::new('promote', 'promote', [CompletionResultType]::ParameterValue, 'Promote the canary in progress now (`hale deploy --canary`), from any process')
            [CompletionResult]::new('abort', 'abort', [CompletionResultType]::ParameterValue, 'Roll the canary in progress back now, from any process')
            break
        }
        'hale;help;deploy;status' {
            break
        }
        'hale;help;deploy;delete' {
            break
        }
        'hale;help;deploy;promote' {
            break
        }
        'hale;help;deploy;abort' {
            break
        }
        'hale;help;up' {
            break
        }
        'hale;help;ps' {
            break
        }
        'hale;help;down' {
            break
        }
        'hale;help;register' {
            break
        }
        'hale;help;deregister' {
            break
        }
        'hale;help;discover' {
            break
        }
        'hale;help;load' {
            break
        }
        'hale;help;completions' {
            break
        }
        'hale;help;man' {
            break
        }
        'hale;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
