
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
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand new 'Scaffold a production-grade Go microservice'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand --force 'Write into a non-empty folder, replacing the generated files there'
            cand --dry-run 'List the files that would be written, and write nothing'
            cand --no-tidy 'Do not run `go mod tidy` after writing'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hale;up'= {
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
            cand --output 'Output format: human text, or one stable JSON document on stdout'
            cand --color 'Colour on stderr. NO_COLOR in the environment turns `auto` off'
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
        &'hale;help;templates'= {
            cand export 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
        }
        &'hale;help;templates;export'= {
        }
        &'hale;help;build'= {
        }
        &'hale;help;deploy'= {
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
