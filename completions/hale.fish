# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hale_global_optspecs
    string join \n output= q/quiet v/verbose color= h/help V/version
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
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_needs_command" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_needs_command" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_needs_command" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_needs_command" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_needs_command" -f -a "new" -d 'Scaffold a production-grade Go microservice'
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
complete -c hale -n "__fish_hale_using_subcommand new" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand new" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand new" -l force -d 'Write into a non-empty folder, replacing the generated files there'
complete -c hale -n "__fish_hale_using_subcommand new" -l dry-run -d 'List the files that would be written, and write nothing'
complete -c hale -n "__fish_hale_using_subcommand new" -l no-tidy -d 'Do not run `go mod tidy` after writing'
complete -c hale -n "__fish_hale_using_subcommand new" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand new" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand new" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand new" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -f -a "export" -d 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
complete -c hale -n "__fish_hale_using_subcommand templates; and not __fish_seen_subcommand_from export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -l force -d 'Write into a non-empty folder, replacing the template files there'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
complete -c hale -n "__fish_hale_using_subcommand templates; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand build" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand build" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand build" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand build" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand build" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand build" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deploy" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand deploy" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deploy" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deploy" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deploy" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand up" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand up" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand up" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand up" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand up" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand ps" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand ps" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand ps" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand ps" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand ps" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand ps" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand down" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand down" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand down" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand down" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand down" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand down" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand register" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand register" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand register" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand register" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand register" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand register" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand deregister" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand deregister" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand deregister" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand deregister" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand deregister" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand deregister" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand discover" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand discover" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand discover" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand discover" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand discover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand discover" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand load" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand load" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand load" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand load" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand load" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand load" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand completions" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand completions" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand completions" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand completions" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand completions" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand man" -l dir -d 'Write hale.1 and one page per subcommand (hale-new.1, ...) into this folder instead of printing hale.1 to stdout' -r -F
complete -c hale -n "__fish_hale_using_subcommand man" -l output -d 'Output format: human text, or one stable JSON document on stdout' -r -f -a "text\t'Human-readable text'
json\t'One JSON document on stdout, its schema documented in docs/json.md'"
complete -c hale -n "__fish_hale_using_subcommand man" -l color -d 'Colour on stderr. NO_COLOR in the environment turns `auto` off' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set'
always\t''
never\t''"
complete -c hale -n "__fish_hale_using_subcommand man" -s q -l quiet -d 'Print only results and errors'
complete -c hale -n "__fish_hale_using_subcommand man" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c hale -n "__fish_hale_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hale -n "__fish_hale_using_subcommand man" -s V -l version -d 'Print version'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "new" -d 'Scaffold a production-grade Go microservice'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "templates" -d 'Work with the service templates (export the built-in set to customise it)'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "build" -d 'Build a minimal, non-root container image of a service'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "deploy" -d 'Render Kubernetes and Prometheus manifests, apply them and wait for the rollout'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "up" -d 'Build a service and run N instances of it locally, each self-registering'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "ps" -d 'List the local instances `hale up` started, with their health'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "down" -d 'Stop the local instances gracefully and remove their state'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "register" -d 'Register an instance in a registry and keep it alive until stopped'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "deregister" -d 'Remove an instance from a registry'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "discover" -d 'List the healthy instances of a service, or follow them with --watch'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "load" -d 'Load-test a fleet through client-side balancing and circuit breakers'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "man" -d 'Write the man page'
complete -c hale -n "__fish_hale_using_subcommand help; and not __fish_seen_subcommand_from new templates build deploy up ps down register deregister discover load completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hale -n "__fish_hale_using_subcommand help; and __fish_seen_subcommand_from templates" -f -a "export" -d 'Write the built-in templates into DIR; use them with `hale new --templates DIR`'
