//! Usage texts, as Kapacitor's `cmd/kapacitor` prints them (each is followed by a newline, and
//! by the flag listing where the command has flags).

pub const MAIN: &str = "
Usage: kapacitor [options] [command] [args]

Commands:

\trecord                Record the result of a query or a snapshot of the current stream data.
\tdefine                Create/update a task.
\tdefine-template       Create/update a template.
\tdefine-topic-handler  Create/update an alert handler for a topic.
\treplay                Replay a recording to a task.
\treplay-live           Replay data against a task without recording it.
\twatch                 Watch logs for a task.
\tlogs                  Follow arbitrary Kapacitor logs.
\tenable                Enable and start running a task with live data.
\tdisable               Stop running a task.
\treload                Reload a running task with an updated task definition.
\tpush                  Publish a task definition to another Kapacitor instance. Not implemented yet.
\tdelete                Delete tasks, templates, recordings, replays, topics or topic-handlers.
\tlist                  List information about tasks, templates, recordings, replays, topics, topic-handlers or service-tests.
\tshow                  Display detailed information about a task.
\tshow-template         Display detailed information about a template.
\tshow-topic-handler    Display detailed information about an alert handler for a topic.
\tshow-topic            Display detailed information about an alert topic.
\tbackup                Backup the Kapacitor database.
\tlevel                 Sets the logging level on the kapacitord server.
\tstats                 Display various stats about Kapacitor.
\tversion               Displays the Kapacitor version info.
\tvars                  Print debug vars in JSON format.
\tservice-tests         Test a service.
\thelp                  Prints help for a command.

Options:
";

pub const HELP: &str = "Usage: kapacitor help [command]\n";

pub const DEFINE: &str = "Usage: kapacitor define <task ID> [options]

\tCreate or update a task.

\tA task is defined via a TICKscript that defines the data processing pipeline of the task.

\tIf an option is absent it will be left unmodified.

\tIf the task is enabled then it will be reloaded unless -no-reload is specified.

For example:

\tYou must define a task for the first time with all the flags.

\t\t$ kapacitor define my_task -tick path/to/TICKscript -type stream -dbrp mydb.myrp

\tLater you can change a single property of the task by referencing its name
\tand only providing the single option you wish to modify.

\t\t$ kapacitor define my_task -tick path/to/TICKscript

\tor

\t\t$ kapacitor define my_task -dbrp mydb.myrp -dbrp otherdb.default

\tNOTE: you must specify all 'dbrp' flags you desire if you wish to modify them.

Options:

";

pub const DEFINE_TEMPLATE: &str = "Usage: kapacitor define-template <template ID> [options]

\tCreate or update a template.

\tA template is defined via a TICKscript that defines the data processing pipeline of the template.

\tIf an option is absent it will be left unmodified.

\tNOTE: Updating a template will reload all associated tasks.

For example:

\tYou must define a template for the first time with all the flags.

\t\t$ kapacitor define-template my_template -tick path/to/TICKscript -type stream

\tLater you can change a single property of the template by referencing its name
\tand only providing the single option you wish to modify.

\t\t$ kapacitor define-template my_template -tick path/to/TICKscript

\tor

\t\t$ kapacitor define-template my_template -type batch

Options:

";

pub const DEFINE_TOPIC_HANDLER: &str =
    "Usage: kapacitor define-topic-handler <path to handler spec file>

\tCreate or update a handler.

\tA handler is defined via a JSON or YAML file.

For example:

\tDefine a handler using the slack.yaml file:

\t\t$ kapacitor define-topic-handler slack.yaml

Options:
";

pub const ENABLE: &str = "Usage: kapacitor enable [task ID...]

\tEnable and start a task running from the live data.

For example:

\tYou can enable by specific task ID.

\t\t$ kapacitor enable cpu_alert

\tOr, you can enable by glob:

\t\t$ kapacitor enable *_alert
";

pub const DISABLE: &str = "Usage: kapacitor disable [task ID...]

\tDisable and stop a task running.

For example:

\tYou can disable by specific task ID.

\t\t$ kapacitor disable cpu_alert

\tOr, you can disable by glob:

\t\t$ kapacitor disable *_alert
";

pub const RELOAD: &str = "Usage: kapacitor reload [task ID...]

\tDisable then enable a running task.

For example:

\tYou can reload by specific task ID.

\t\t$ kapacitor reload cpu_alert

\tOr, you can reload by glob:

\t\t$ kapacitor reload *_alert
";

pub const SHOW: &str = "Usage: kapacitor show [-replay] [task ID]

\tShow details about a specific task.

Options:
";

pub const SHOW_TEMPLATE: &str = "Usage: kapacitor show-template [template ID]

\tShow details about a specific template.
";

pub const SHOW_TOPIC_HANDLER: &str = "Usage: kapacitor show-topic-handler [topic ID] [handler ID]

\tShow details about a specific handler.
";

pub const SHOW_TOPIC: &str = "Usage: kapacitor show-topic [topic ID]

\tShow details about a specific topic.
";

pub const LIST: &str = "Usage: kapacitor list (tasks|templates|recordings|replays|topics|topic-handlers|service-tests) [ID or pattern]...

\tList tasks, templates, recordings, replays, topics or handlers and their current state.

\tIf no ID or pattern is given then all items will be listed.

\tListing handlers requires that the topic ID or pattern be specified before the handler patterns.

\t\t$ kapacitor list topic-handlers [topicID or pattern] [ID or pattern]

\tFor example list all handlers in the system topic

\t\t$ kapacitor list topic-handlers system

\tFor example list all email* handlers in the system topic

\t\t$ kapacitor list topic-handlers system email*

";

pub const DELETE: &str = "Usage: kapacitor delete (tasks|templates|recordings|replays|topics|topic-handlers) [ID or pattern]...

\tDelete a tasks, templates, recordings, replays, topics or handlers.

\tIf a task is enabled it will be disabled and then deleted.

\tDeleting a handler requires that the topic be specified before the pattern.

\t\t$ kapacitor delete topic-handlers [topic] [ID or pattern]


For example:

\tYou can delete task:

\t\t$ kapacitor delete tasks my_task

\tOr you can delete items by glob:

\t\t$ kapacitor delete tasks *_alert

\tYou can delete recordings:

\t\t$ kapacitor delete recordings b0a2ba8a-aeeb-45ec-bef9-1a2939963586

\tYou can delete a handler in the topic 'system':

\t\t$ kapacitor delete topic-handlers system slack
";

pub const LEVEL: &str = "Usage: kapacitor level (debug|info|error)

\tSets the logging level on the kapacitord server.
";

pub const STATS: &str = "Usage: kapacitor stats <general|ingress>

\tPrint stats about a certain aspect of Kapacitor.

\tgeneral - Display summary stats about Kapacitor.
\tingress - Display stats about the data Kapacitor is receiving by database, retention policy and measurement.
";

pub const VERSION: &str = "Usage: kapacitor version

\tPrint version info.
";

pub const VARS: &str = "Usage: kapacitor vars

\tPrint debug vars in JSON format.
";

pub const SERVICE_TESTS: &str = "Usage: kapacitor service-tests <service name...>

\tPerform the service test using defaults.
\tThe service name can be a glob style pattern.
";

pub const BACKUP: &str = "Usage: kapacitor backup <output file>

\tPerform a backup of the Kapacitor database.

\tTo restore a database first stop Kapacitor, then replace the existing kapacitor.db file with the backup file.
";

pub const RECORD: &str = "Usage: kapacitor record [batch|stream|query] [options]

\tRecord the result of a InfluxDB query or a snapshot of the live data stream.

\tPrints the recording ID on exit.

\tSee 'kapacitor help replay' for how to replay a recording.
";

pub const REPLAY: &str = "Usage: kapacitor replay [options]

Replay a recording to a task. Prints the replay ID.

The times of the data points will either be relative to now or the exact times
in the recording if the '-rec-time' flag is set. In either case the relative times
between the data points remains the same.

See 'kapacitor help record' for how to create a replay.
See 'kapacitor help define' for how to create a task.

Options:
";

pub const REPLAY_LIVE: &str = "Usage: kapacitor replay-live <batch|query> [options]

Replay data to a task directly without saving a recording.

The command is a hybrid of the 'kapacitor record batch|query' and 'kapacitor replay' commands.

See either 'kapacitor replay-live batch' or 'kapacitor replay-live query' for more details
";

pub const WATCH: &str = "Usage: kapacitor watch <task id> [<tags> ...]

\tWatch logs associated with a task.

\tExamples:

\t\t$ kapacitor watch mytask
\t\t$ kapacitor watch mytask node=log5
";

pub const LOGS: &str = "Usage: kapacitor logs [<tags> ...]

\tWatch arbitrary kapacitor logs.

\t\t$ kapacitor logs service=http lvl=error
\t\t$ kapacitor logs service=http lvl=info+
";
