//! Everything that travels between kapacitord's processes.
//!
//! postcard encodes struct fields in declaration order and enum variants by index, with no
//! names or tags on the wire. Every process is the same executable (children are re-exec'd
//! from `/proc/self/exe`), so both ends always agree on the layout; the rules below keep
//! accidental breakage visible anyway:
//! - `Message` is append-only: add new variants at the end, never reorder or remove.
//! - Bump [`PROTO_VERSION`] on any change to an existing type's layout.
//! - No `#[serde(flatten)]`, `untagged`, `skip_serializing_if` or `serde_json::Value` here:
//!   postcard cannot describe them. JSON payloads travel as `String`.

use kapacitor_models::{Batch, Point};
use serde::{Deserialize, Serialize};

/// Version of the wire protocol; checked in the [`Hello`] of every connection.
pub const PROTO_VERSION: u32 = 2;

/// The version string the daemon reports (`X-Kapacitor-Version`, `kapacitord version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which process is at the other end of a connection.
///
/// APPEND-ONLY, like [`Message`]: postcard encodes the variant index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Supervisor,
    Gossipd,
    Apid,
    Worker {
        task_id: String,
    },
    /// A task worker's second connection to apid's worker socket: the control link, which
    /// carries apid's requests to the worker (stats, DOT, httpOut reads, sideload reload) so
    /// that they never wait behind point frames on the data link.
    WorkerControl {
        task_id: String,
    },
}

impl Role {
    /// The name used in process titles and log lines: `gossipd`, `apid`, `task cpu_alert`.
    pub fn title(&self) -> String {
        match self {
            Role::Supervisor => "supervisor".into(),
            Role::Gossipd => "gossipd".into(),
            Role::Apid => "apid".into(),
            Role::Worker { task_id } => format!("task {task_id}"),
            Role::WorkerControl { task_id } => format!("task {task_id} (control)"),
        }
    }

    /// The role's kind without the task id: `supervisor`, `gossipd`, `apid`, `task`.
    pub fn kind(&self) -> &'static str {
        match self {
            Role::Supervisor => "supervisor",
            Role::Gossipd => "gossipd",
            Role::Apid => "apid",
            Role::Worker { .. } | Role::WorkerControl { .. } => "task",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.title())
    }
}

/// First frame on every connection, in both directions. `proto_version` must stay the first
/// field: a receiver reads it alone before decoding the rest, so that a peer with a different
/// layout is reported as a version mismatch rather than as garbage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub proto_version: u32,
    pub role: Role,
    pub pid: u32,
    /// Free-form build identification, for log lines.
    pub build: String,
}

impl Hello {
    /// A hello for this process with the current protocol version.
    pub fn new(role: Role) -> Hello {
        Hello {
            proto_version: PROTO_VERSION,
            role,
            pid: std::process::id(),
            build: VERSION.to_string(),
        }
    }
}

/// One frame after the hello. `id` is non-zero when the sender wants a reply; a reply carries
/// the request's id in `reply_to`. Notifications have both at 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: u64,
    pub reply_to: u64,
    pub msg: Message,
}

/// What a task worker needs to run its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    /// `stream` or `batch`.
    pub task_type: String,
    pub dbrps: Vec<Dbrp>,
    pub script: String,
    /// The task's vars as Kapacitor's JSON object (`{"name":{"type":"int","value":1}}`).
    pub vars_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dbrp {
    pub db: String,
    pub rp: String,
}

/// Lifecycle state of a supervised child, as shown by `/kapacitor/v1/debug/processes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcState {
    Running,
    /// Exited; waiting out the restart backoff.
    Backoff,
    /// Crash-looped (or could not start its task); not restarted until enabled again.
    Failed,
    Stopped,
}

impl ProcState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcState::Running => "running",
            ProcState::Backoff => "backoff",
            ProcState::Failed => "failed",
            ProcState::Stopped => "stopped",
        }
    }
}

/// One supervised child, as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub role: Role,
    /// `None` while no process is alive.
    pub pid: Option<u32>,
    pub state: ProcState,
    /// How many times it was started again after an exit.
    pub restarts: u32,
    /// Start of the current process, nanoseconds since the Unix epoch.
    pub started_unix_ns: Option<i64>,
    /// How the previous process ended (`signal: killed`, `exit status 1`).
    pub last_exit: Option<String>,
    /// Why the child is failed, when it is.
    pub error: Option<String>,
}

/// Daemon-wide facts apid needs for `/debug/vars`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub cluster_id: String,
    pub server_id: String,
    pub hostname: String,
    pub num_tasks: u64,
    pub num_enabled_tasks: u64,
    /// When the supervisor started, nanoseconds since the Unix epoch.
    pub started_unix_ns: i64,
}

/// Number of `Message` variants; a higher index on the wire is an unknown message.
pub const MESSAGE_VARIANTS: u32 = 75;

/// Every message of every connection.
///
/// APPEND-ONLY: postcard encodes the variant index. Add new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Liveness probe; answered with `Pong`.
    Ping,
    Pong,
    /// Supervisor → child: stop gracefully (flush, leave) and exit 0.
    Shutdown,
    /// Supervisor → child, first message after the hello: the effective configuration as TOML.
    Config {
        toml: String,
    },
    /// Supervisor → worker: the task to run.
    StartTask(TaskSpec),
    /// Child → supervisor: started and serving (apid: listening; worker: task built).
    Ready,
    /// Worker → supervisor: the task cannot run (bad script...). The worker exits after this,
    /// and the supervisor does not restart it.
    TaskStartFailed {
        error: String,
    },
    /// apid → worker: a batch of points written to `db`.`rp`.
    Points {
        db: String,
        rp: String,
        points: Vec<Point>,
    },
    /// apid → supervisor.
    ProcessTreeRequest,
    ProcessTree(Vec<ProcessInfo>),
    /// apid → supervisor.
    StatusRequest,
    Status(Status),
    /// apid → worker: the body of an httpOut endpoint.
    HttpOutRequest {
        endpoint: String,
    },
    /// `None` when the task has no such endpoint.
    HttpOutResponse {
        body: Option<String>,
    },
    /// apid → worker: node statistics.
    StatsRequest,
    /// JSON object of node statistics.
    Stats {
        json: String,
    },
    /// A request could not be served.
    Error {
        message: String,
    },
    /// apid → supervisor: every stored task; answered with `Tasks`.
    TaskListRequest,
    /// apid → supervisor: one task; answered with `Tasks` (empty when unknown).
    TaskGetRequest {
        id: String,
    },
    /// Stored tasks with their runtime state.
    Tasks(Vec<TaskState>),
    /// apid → supervisor: store a task (the store's `TaskRecord` as JSON) and make its worker
    /// match its status. `create` refuses an existing id; `previous_id` renames (the old
    /// record is removed in the same transaction). Answered with `Tasks` (the task) or
    /// `Rejected`.
    TaskPut {
        record_json: String,
        create: bool,
        previous_id: Option<String>,
    },
    /// apid → supervisor: stop and remove a task; answered with `Done`.
    TaskDelete {
        id: String,
    },
    /// apid → supervisor: every stored template (`TemplateRecord` JSON); answered with
    /// `Templates`.
    TemplateListRequest,
    TemplateGetRequest {
        id: String,
    },
    Templates(Vec<String>),
    /// apid → supervisor: store a template and, in the same transaction, the task records of
    /// its tasks (re-rendered from the new script); running ones are reloaded.
    TemplatePut {
        record_json: String,
        create: bool,
        previous_id: Option<String>,
        tasks_json: Vec<String>,
    },
    TemplateDelete {
        id: String,
    },
    /// A request was carried out and has nothing to return.
    Done,
    /// The request is invalid (the caller's fault: a duplicate id...); HTTP 400.
    Rejected {
        message: String,
    },
    /// Worker → apid, first message on the data link: what to route to this worker. `None`
    /// measurements means every measurement of the dbrps.
    Subscribe {
        dbrps: Vec<Dbrp>,
        measurements: Option<Vec<String>>,
    },
    /// apid → worker: the task's DOT with its stats (`labels`: graphviz label view).
    DotRequest {
        labels: bool,
    },
    Dot {
        dot: String,
    },
    /// Worker → apid: alert events of the task, as a JSON array.
    AlertEvents {
        json: String,
    },
    /// apid → gossipd (`<data_dir>/run/gossipd.sock`): the membership, as `member list`
    /// shows it; answered with `ClusterMembers` or `ClusterError`.
    ClusterMembersRequest,
    ClusterMembers(ClusterView),
    /// apid → gossipd: `member add <rpc-address>`; answered with the new `ClusterMembers`.
    ClusterAddMember {
        rpc_address: String,
    },
    /// apid → gossipd: `member remove <member-id>`; answered with the new `ClusterMembers`.
    ClusterRemoveMember {
        member_id: String,
    },
    /// gossipd → apid: a membership request failed; `status` is the HTTP status to answer
    /// with (400 bad input, 404 unknown member, 409 refused by the other member, 502
    /// unreachable).
    ClusterError {
        status: u16,
        message: String,
    },
    /// Worker → apid, on the data link right after `Subscribe`: the handlers written in the
    /// task's script, as handler spec JSON objects (`{"id","topic","kind","options","match"}`)
    /// on the task's anonymous topics. Replaces whatever this task sent before.
    AlertScriptHandlers {
        specs_json: Vec<String>,
    },
    /// apid → supervisor at start: every stored topic handler spec and topic event state;
    /// answered with `AlertStore`.
    AlertStoreLoad,
    AlertStore {
        /// Handler specs as JSON objects.
        handlers_json: Vec<String>,
        states: Vec<TopicEventState>,
    },
    /// apid → supervisor: store a topic handler spec (JSON object). `previous_id` (a replace
    /// that renamed the handler) is removed in the same transaction. Answered with `Done` once
    /// durable, or `Error`.
    AlertHandlerPut {
        topic: String,
        id: String,
        spec_json: String,
        previous_id: Option<String>,
    },
    /// apid → supervisor: remove a stored handler spec; answered with `Done`.
    AlertHandlerDelete {
        topic: String,
        id: String,
    },
    /// apid → supervisor: topic event state changes, applied in order in one transaction;
    /// answered with `Done` or `Error`.
    AlertStatesSave {
        changes: Vec<TopicStateChange>,
    },
    /// apid → gossipd: define or replace a cluster-replicated topic handler (spec JSON
    /// object); gossipd records it, persists it and sends it to every member. Answered with
    /// `ClusterHandlers` or `ClusterError`.
    ClusterHandlerPut {
        topic: String,
        id: String,
        spec_json: String,
    },
    /// apid → gossipd: delete a cluster-replicated topic handler (a tombstone replicates);
    /// answered with `ClusterHandlers` or `ClusterError`.
    ClusterHandlerDelete {
        topic: String,
        id: String,
    },
    /// apid → gossipd: the replicated handler set; answered with `ClusterHandlers`.
    ClusterHandlersRequest,
    /// gossipd → apid: the whole replicated handler set. Also sent unsolicited on the
    /// gossipd socket whenever the set changes (a peer's change, a full sync, a join);
    /// `revision` grows with every change so apid can ignore stale copies. `deleted`: the
    /// (topic, id) of the tombstones gossipd keeps, so apid removes a handler it stored only
    /// when the cluster knows it was deleted (one gossipd never heard of is re-sent instead).
    ClusterHandlers {
        revision: u64,
        handlers: Vec<ClusterHandler>,
        deleted: Vec<(String, String)>,
    },
    /// apid → gossipd: this member does not own the event's topic; send the event (alert
    /// `Event` JSON) to these owners (member ids). Answered with `Done`.
    ClusterAlertForward {
        owners: Vec<String>,
        event_json: String,
    },
    /// gossipd → apid: an event another member forwarded to this owner.
    ClusterAlertForwarded {
        from: String,
        event_json: String,
    },
    /// apid → gossipd: this member delivered these events (notification-log notices as
    /// JSON); send them to `peers` (the topic's other owners) now and keep them for the full
    /// sync. Answered with `Done`.
    ClusterAlertDone {
        peers: Vec<String>,
        notices_json: Vec<String>,
    },
    /// gossipd → apid: completion notices from other members (direct or from a full sync).
    ClusterAlertNotices {
        notices_json: Vec<String>,
    },
    /// A later owner claims events whose wait ran out (`claim_json`: `{"by": member id,
    /// "keys": [notice key, ...]}`). apid → gossipd: ask these `owners` (the earlier ones)
    /// concurrently; gossipd → apid (with `owners` empty): answer for this member. Answered
    /// with `ClusterAlertClaimed`.
    ClusterAlertClaim {
        owners: Vec<String>,
        claim_json: String,
    },
    /// The answers to a `ClusterAlertClaim`, one per owner asked: `answers_json` is the JSON
    /// array of answers in the order of the keys, `None` when the owner did not answer.
    ClusterAlertClaimed {
        answers: Vec<ClaimAnswers>,
    },
    /// apid → supervisor: start an ephemeral worker for a replay. `spec.id` is the replay id
    /// (the worker's role is `Worker { task_id: <replay id> }`); the worker is not stored as
    /// a task, not restarted when it exits, and stopped with the daemon. It gets
    /// `StartReplay` instead of `StartTask`. Answered with `Done` once the worker has built
    /// the task, `Error` (the start failure) or `Rejected` (the id is taken).
    ReplayWorkerStart {
        spec: TaskSpec,
    },
    /// apid → supervisor: stop the replay's worker (gracefully; it flushes) and forget it.
    /// Answered with `Done` once the process is gone (also when it never existed).
    ReplayWorkerStop {
        id: String,
    },
    /// Supervisor → an ephemeral worker, instead of `StartTask`: run this task for a replay.
    /// The worker subscribes to no live data and schedules no queries: apid feeds it
    /// `Points` and `ReplayBatches` over the data link.
    StartReplay(TaskSpec),
    /// apid → replay worker: batches for query node `node` (the node's index in the
    /// pipeline), in order.
    ReplayBatches {
        node: u32,
        batches: Vec<Batch>,
    },
    /// Supervisor → apid: define what one `[load]` directory file holds, through the task,
    /// template and topic-handler API (create, or update and reload; loaded tasks are
    /// enabled). apid validates, as for an HTTP request: the supervisor never parses
    /// TICKscript. Answered with `LoadItemDone` or `Rejected` (the message names the
    /// line:column of a script or YAML error).
    LoadItem {
        kind: LoadKind,
        /// The file's base name without its extension: the task or template id.
        id: String,
        /// `tick`, `yaml` (also `.yml`) or `json`.
        format: String,
        text: String,
    },
    /// The answer to `LoadItem`: what the file defined (a task or template id, or
    /// `<topic>/<handler id>`).
    LoadItemDone {
        key: String,
    },
    /// Supervisor → apid: delete what a `[load]` file that is gone had defined. Answered with
    /// `Done` (also when it no longer exists) or `Error`.
    LoadItemRemove {
        kind: LoadKind,
        key: String,
    },
    /// apid → supervisor: the sections of the config API, overrides applied and secrets
    /// redacted, as the JSON object `{section: [{"element", "options", "redacted"}]}`.
    /// Answered with `ConfigSections`.
    ConfigSectionsRequest,
    ConfigSections {
        json: String,
    },
    /// apid → supervisor: `POST /config/<section>[/<element>]` (`element` is `None` without
    /// the trailing `/`); `action_json` is the request body. The supervisor validates,
    /// stores the override and answers `ConfigUpdated` with the new effective configuration,
    /// `Rejected` (HTTP 400) or `Error` (HTTP 500).
    ConfigUpdate {
        section: String,
        element: Option<String>,
        action_json: String,
    },
    ConfigUpdated {
        toml: String,
    },
    /// gossipd → apid: the members this gossipd has completed a full alert-state exchange
    /// with since it started (sent when apid links and whenever it grows). A member that
    /// (re)starts holds its events until it has, so it knows what the others delivered.
    ClusterAlertSynced {
        members: Vec<String>,
    },
    /// worker → apid, once at task start before it subscribes: the event states of these
    /// topics (its alert nodes' anonymous and named topics), so the nodes continue from the
    /// levels they had before a restart. Answered with `AlertStates`.
    AlertStatesRequest {
        topics: Vec<String>,
    },
    AlertStates {
        states: Vec<TopicEventState>,
    },
    /// worker → apid: points of a `kapacitorLoopback()` node, routed as a `/write` of this
    /// database and retention policy (to every task subscribed to it, this one included).
    LoopbackWrite {
        db: String,
        rp: String,
        points: Vec<Point>,
    },
    /// apid → worker: `POST /sideload/reload`: every sideload node reads its source again.
    /// Answered with `Done`, or `Error` naming the nodes that failed.
    SideloadReload,
    /// supervisor → apid, instead of `Error`: the store could not read or write its file.
    /// `disk_full` (ENOSPC, EDQUOT) answers HTTP 507, any other I/O error 500; `message`
    /// names the file and the OS reason. The store reopens the file on the next request.
    StoreFailed {
        disk_full: bool,
        message: String,
    },
    /// Supervisor → task worker, every second once it is ready: the watchdog's probe. The
    /// worker answers `Pong` from its engine thread (ahead of queued data), so a worker whose
    /// engine is stuck, or a stopped process, does not answer.
    Heartbeat,
    /// Worker → supervisor: the running task had to stop (it passed its memory budget). Like
    /// `TaskStartFailed`: the worker exits after the reply, the supervisor marks the task
    /// failed with `error` and does not restart it until it is enabled again.
    TaskFailed {
        error: String,
    },
    /// apid → worker, on the data link: one batch of the task's queue, a "kapacitor batch
    /// v1" (`kapacitor_models::batch_wire`) carried as one opaque byte string, decoded on the
    /// worker's engine thread. `seq` is its sequence number in the task's queue; the worker
    /// acknowledges it with `TaskBatchAck` once the engine has processed it. `seq` 0 is not
    /// from a queue (a replay's data) and is never acknowledged.
    TaskBatch {
        seq: u64,
        payload: bytes::Bytes,
    },
    /// Worker → apid, on the data link: every `TaskBatch` up to `seq` received on this
    /// connection has been processed by the task's engine (coalesced: one ack covers many).
    TaskBatchAck {
        seq: u64,
    },
}

/// What kind of `[load]` directory file a `LoadItem` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadKind {
    /// `templates/<id>.tick`.
    Template,
    /// `tasks/<id>.tick`.
    Task,
    /// `tasks/<id>.yaml|yml|json`: `template-id`, `dbrps`, `vars` (a templated task, or
    /// vars for the `.tick` task of the same name).
    TaskVars,
    /// `handlers/*.yaml|yml|json`: a topic handler (`topic`, `id`, `kind`, `match`, `options`).
    Handler,
}

/// One owner's answers to a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimAnswers {
    pub member: String,
    pub answers_json: Option<String>,
}

/// One cluster-replicated topic handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterHandler {
    pub topic: String,
    pub id: String,
    /// The handler spec as a JSON object.
    pub spec_json: String,
}

/// The persisted state of one event of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicEventState {
    pub topic: String,
    pub event_id: String,
    /// `{"message","details","time","duration","level"}` (reference §8).
    pub state_json: String,
}

/// One change to the stored topic event states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopicStateChange {
    Put(TopicEventState),
    /// The event returned to OK: its stored state goes.
    Delete {
        topic: String,
        event_id: String,
    },
    /// The topic was deleted: all its stored states go.
    DeleteTopic {
        topic: String,
    },
}

/// The cluster as one member sees it (`kapacitorctl member list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// `initialized` once another member joined, else `uninitialized`.
    pub state: String,
    pub cluster_id: String,
    pub local_member_id: String,
    pub members: Vec<ClusterMember>,
}

/// One member in a [`ClusterView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMember {
    pub id: String,
    pub gossip_address: String,
    pub rpc_address: String,
    pub api_address: String,
    pub roles: Vec<String>,
    /// `alive`, `suspect`, `dead`, `left` or `unknown`.
    pub status: String,
}

/// A stored task and what its worker is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    /// The store's `TaskRecord` as JSON.
    pub record_json: String,
    /// The worker process is running and has built the task.
    pub executing: bool,
    /// Why the task is not executing (start failure, crash loop); empty otherwise.
    pub error: String,
}

impl Message {
    /// A short name for log lines (no payload).
    pub fn name(&self) -> &'static str {
        match self {
            Message::Ping => "Ping",
            Message::Pong => "Pong",
            Message::Shutdown => "Shutdown",
            Message::Config { .. } => "Config",
            Message::StartTask(_) => "StartTask",
            Message::Ready => "Ready",
            Message::TaskStartFailed { .. } => "TaskStartFailed",
            Message::Points { .. } => "Points",
            Message::ProcessTreeRequest => "ProcessTreeRequest",
            Message::ProcessTree(_) => "ProcessTree",
            Message::StatusRequest => "StatusRequest",
            Message::Status(_) => "Status",
            Message::HttpOutRequest { .. } => "HttpOutRequest",
            Message::HttpOutResponse { .. } => "HttpOutResponse",
            Message::StatsRequest => "StatsRequest",
            Message::Stats { .. } => "Stats",
            Message::Error { .. } => "Error",
            Message::TaskListRequest => "TaskListRequest",
            Message::TaskGetRequest { .. } => "TaskGetRequest",
            Message::Tasks(_) => "Tasks",
            Message::TaskPut { .. } => "TaskPut",
            Message::TaskDelete { .. } => "TaskDelete",
            Message::TemplateListRequest => "TemplateListRequest",
            Message::TemplateGetRequest { .. } => "TemplateGetRequest",
            Message::Templates(_) => "Templates",
            Message::TemplatePut { .. } => "TemplatePut",
            Message::TemplateDelete { .. } => "TemplateDelete",
            Message::Done => "Done",
            Message::Rejected { .. } => "Rejected",
            Message::Subscribe { .. } => "Subscribe",
            Message::DotRequest { .. } => "DotRequest",
            Message::Dot { .. } => "Dot",
            Message::AlertEvents { .. } => "AlertEvents",
            Message::ClusterMembersRequest => "ClusterMembersRequest",
            Message::ClusterMembers(_) => "ClusterMembers",
            Message::ClusterAddMember { .. } => "ClusterAddMember",
            Message::ClusterRemoveMember { .. } => "ClusterRemoveMember",
            Message::ClusterError { .. } => "ClusterError",
            Message::AlertScriptHandlers { .. } => "AlertScriptHandlers",
            Message::AlertStoreLoad => "AlertStoreLoad",
            Message::AlertStore { .. } => "AlertStore",
            Message::AlertHandlerPut { .. } => "AlertHandlerPut",
            Message::AlertHandlerDelete { .. } => "AlertHandlerDelete",
            Message::AlertStatesSave { .. } => "AlertStatesSave",
            Message::ClusterHandlerPut { .. } => "ClusterHandlerPut",
            Message::ClusterHandlerDelete { .. } => "ClusterHandlerDelete",
            Message::ClusterHandlersRequest => "ClusterHandlersRequest",
            Message::ClusterHandlers { .. } => "ClusterHandlers",
            Message::ClusterAlertClaim { .. } => "ClusterAlertClaim",
            Message::ClusterAlertClaimed { .. } => "ClusterAlertClaimed",
            Message::ClusterAlertSynced { .. } => "ClusterAlertSynced",
            Message::AlertStatesRequest { .. } => "AlertStatesRequest",
            Message::AlertStates { .. } => "AlertStates",
            Message::LoopbackWrite { .. } => "LoopbackWrite",
            Message::SideloadReload => "SideloadReload",
            Message::StoreFailed { .. } => "StoreFailed",
            Message::Heartbeat => "Heartbeat",
            Message::TaskFailed { .. } => "TaskFailed",
            Message::TaskBatch { .. } => "TaskBatch",
            Message::TaskBatchAck { .. } => "TaskBatchAck",
            Message::ClusterAlertForward { .. } => "ClusterAlertForward",
            Message::ClusterAlertForwarded { .. } => "ClusterAlertForwarded",
            Message::ClusterAlertDone { .. } => "ClusterAlertDone",
            Message::ClusterAlertNotices { .. } => "ClusterAlertNotices",
            Message::ReplayWorkerStart { .. } => "ReplayWorkerStart",
            Message::ReplayWorkerStop { .. } => "ReplayWorkerStop",
            Message::StartReplay(_) => "StartReplay",
            Message::ReplayBatches { .. } => "ReplayBatches",
            Message::LoadItem { .. } => "LoadItem",
            Message::LoadItemDone { .. } => "LoadItemDone",
            Message::LoadItemRemove { .. } => "LoadItemRemove",
            Message::ConfigSectionsRequest => "ConfigSectionsRequest",
            Message::ConfigSections { .. } => "ConfigSections",
            Message::ConfigUpdate { .. } => "ConfigUpdate",
            Message::ConfigUpdated { .. } => "ConfigUpdated",
        }
    }
}
