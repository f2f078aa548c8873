//! Server-side `meta.k8s.io/v1` `Table` rendering for `kubectl get`.
//!
//! kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and
//! prints whatever columns and cells the server sends, so the look of
//! `kubectl get` is decided here. The real kube-apiserver has three sources of
//! tables, and this module mirrors each of them:
//!
//! * the built-in printers of `k8s.io/kubernetes/pkg/printers/internalversion`
//!   (Pod, Deployment, Service, ...), reproduced column for column and cell for
//!   cell, including which cells are JSON integers and which are strings;
//! * the CRD convertor of `apiextensions-apiserver`
//!   (`additionalPrinterColumns` evaluated as JSONPath, `Name` + `Age` when a
//!   version declares none), used for every custom resource;
//! * the generic default convertor (`NAME`, `CREATED AT`) that kinds without a
//!   printer get, such as Role, ClusterRole and CustomResourceDefinition.
//!
//! Two server behaviours matter for fidelity and are easy to miss:
//!
//! * The apiserver always renders with `Wide: true`: every row carries the
//!   priority-1 cells too, and kubectl drops them unless `-o wide` is given.
//! * The printers run on objects the apiserver has already defaulted. Objects
//!   kept here may not have been, so fields the real server defaults on write
//!   (`spec.replicas` = 1, Service `type` = ClusterIP, port protocol TCP,
//!   Namespace phase Active, ...) are defaulted when read, so the table shows
//!   what the real server would.
//!
//! Watches (`kubectl get -w`) get one single-row table per event, made by
//! [`to_table_watch_object`]. The real server sends `columnDefinitions` only
//! with the first event and `null` afterwards (kubectl reuses the last columns
//! it saw), which `with_columns` reproduces.
//!
//! Everything is computed from `serde_json::Value`s: any field may be missing
//! or of the wrong type, and nothing here panics on such input.

use std::collections::BTreeSet;

use serde_json::{Map, Number, Value, json};

/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`, the description of every Name column.
const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`, the description of every Age column.
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";
const SELECTOR_DESC: &str = "A label query over pods that should match the replica count. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

/// Go's `time.Duration` is int64 nanoseconds, so `time.Since` saturates at
/// about 292 years; ages are clamped the same way so far-past timestamps
/// print `292y` as they do against a real server.
const MAX_DURATION_SECS: i64 = 9_223_372_036;
/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which the
/// printers treat as "unset" (`<unknown>`).
const ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// What each row's `object` holds, from `?includeObject=` (default `Metadata`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No `object` in the rows.
    None,
    /// A `PartialObjectMetadata` carrying the object's full `metadata`.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; an unknown value is the
    /// message of the 400 BadRequest the real server answers.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

/// One printer column of a CRD (`spec.versions[].additionalPrinterColumns` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

impl PrinterColumn {
    /// Reads one `additionalPrinterColumns` entry (v1 `jsonPath`, or the
    /// v1beta1 spelling `JSONPath`).
    pub fn from_json(column: &Value) -> Self {
        let json_path = opt_str_at(column, &["jsonPath"])
            .or_else(|| opt_str_at(column, &["JSONPath"]))
            .unwrap_or("");
        Self {
            name: str_at(column, &["name"]).to_string(),
            type_: str_at(column, &["type"]).to_string(),
            format: str_at(column, &["format"]).to_string(),
            description: str_at(column, &["description"]).to_string(),
            priority: int_at(column, &["priority"]),
            json_path: json_path.to_string(),
        }
    }

    /// The printer columns a CRD declares for one served version; empty when
    /// it declares none (then [`to_table`] uses Name + Age, as the real server).
    pub fn for_crd_version(crd: &Value, version: &str) -> Vec<Self> {
        arr_at(crd, &["spec", "versions"])
            .iter()
            .find(|v| str_at(v, &["name"]) == version)
            .map(|v| {
                arr_at(v, &["additionalPrinterColumns"])
                    .iter()
                    .map(Self::from_json)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Builds the `Table` for a list (or a single object: pass one object and its
/// resourceVersion in `list_meta`) of one kind. `group` is "" for core;
/// `custom` is `Some` for custom resources (their CRD's printer columns, maybe
/// empty); `list_meta` is the ListMeta (`resourceVersion`, `continue`,
/// `remainingItemCount`) for `table.metadata`; `now_unix` is the current time
/// in seconds since the epoch, for ages.
pub fn to_table(
    group: &str,
    kind: &str,
    objects: &[Value],
    include: IncludeObject,
    custom: Option<&[PrinterColumn]>,
    list_meta: Value,
    now_unix: i64,
) -> Value {
    let request = Request {
        group,
        kind,
        include,
        custom,
        now: now_unix,
    };
    render(&request, objects, list_meta_json(&list_meta), true)
}

/// Builds the one-row `Table` a watch event carries when the watch was asked
/// for tables. `table.metadata.resourceVersion` is the object's, as the real
/// server sets it. Pass `with_columns` true for the first event of a watch and
/// false afterwards: the real server then sends `"columnDefinitions": null`
/// to save bandwidth and kubectl reuses the columns it already has.
pub fn to_table_watch_object(
    group: &str,
    kind: &str,
    object: &Value,
    include: IncludeObject,
    custom: Option<&[PrinterColumn]>,
    with_columns: bool,
    now_unix: i64,
) -> Value {
    let request = Request {
        group,
        kind,
        include,
        custom,
        now: now_unix,
    };
    let mut meta = Map::new();
    let rv = str_at(object, &["metadata", "resourceVersion"]);
    if !rv.is_empty() {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
    render(
        &request,
        std::slice::from_ref(object),
        Value::Object(meta),
        with_columns,
    )
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration` for a duration in
/// whole seconds: ~2-3 significant figures, e.g. `45s`, `5m10s`, `3h`, `2d5h`,
/// `10d`, `2y10d`. Up to one second in the future counts as `0s` (clock skew).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses an RFC 3339 timestamp (`2024-01-01T00:00:00Z`, optional fraction,
/// `Z` or `±hh:mm`) to Unix seconds; the fraction is dropped because ages are
/// computed in whole seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |at: usize, expected: &[u8]| b.get(at).is_some_and(|c| expected.contains(c));
    let year = num(0, 4)?;
    let month = num(5, 7)?;
    let day = num(8, 10)?;
    let hour = num(11, 13)?;
    let minute = num(14, 16)?;
    let second = num(17, 19)?;
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let mut i = 19;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, i + 3)?;
            let om = num(i + 4, i + 6)?;
            if !sep(i + 3, b":") || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if i != b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

// ---------------------------------------------------------------------------
// Table assembly
// ---------------------------------------------------------------------------

struct Request<'a> {
    group: &'a str,
    kind: &'a str,
    include: IncludeObject,
    custom: Option<&'a [PrinterColumn]>,
    now: i64,
}

/// What a printer sees besides the object.
struct Ctx<'a> {
    now: i64,
    group: &'a str,
}

/// One row before the `object` is attached.
struct Row {
    cells: Vec<Value>,
    /// `TableRow.conditions`; only pods that have finished carry one.
    conditions: Option<Value>,
}

impl Row {
    fn new(cells: Vec<Value>) -> Self {
        Self {
            cells,
            conditions: None,
        }
    }
}

type RowFn = fn(&Value, &Ctx) -> Row;

#[derive(Clone, Debug)]
struct ColumnDef {
    name: String,
    type_: String,
    format: String,
    description: String,
    priority: i64,
}

impl ColumnDef {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// How rows are made for one request.
enum Renderer {
    Builtin(RowFn),
    /// CRD columns: each column's type and parsed JSONPath (`None` when the
    /// path is outside the supported subset; its cells are then null).
    Custom(Vec<(String, Option<Vec<Seg>>)>),
    /// The generic convertor: name and RFC 3339 creation time.
    CreatedAt,
}

struct Plan {
    columns: Vec<ColumnDef>,
    renderer: Renderer,
}

fn render(request: &Request, objects: &[Value], metadata: Value, with_columns: bool) -> Value {
    let plan = plan(request.group, request.kind, request.custom);
    let ctx = Ctx {
        now: request.now,
        group: request.group,
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let row = match &plan.renderer {
                Renderer::Builtin(print) => print(object, &ctx),
                Renderer::Custom(columns) => Row::new(custom_cells(object, columns, ctx.now)),
                Renderer::CreatedAt => Row::new(vec![
                    s(name_of(object)),
                    s(format_rfc3339(time_at(
                        object,
                        &["metadata", "creationTimestamp"],
                    ))),
                ]),
            };
            let mut out = Map::new();
            out.insert("cells".into(), Value::Array(row.cells));
            if let Some(conditions) = row.conditions {
                out.insert("conditions".into(), conditions);
            }
            match request.include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    out.insert("object".into(), partial_object_metadata(object));
                }
                IncludeObject::Object => {
                    out.insert("object".into(), object.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let columns = if with_columns {
        Value::Array(plan.columns.iter().map(ColumnDef::to_json).collect())
    } else {
        Value::Null
    };
    let mut table = Map::new();
    table.insert("kind".into(), s("Table"));
    table.insert("apiVersion".into(), s("meta.k8s.io/v1"));
    table.insert("metadata".into(), metadata);
    table.insert("columnDefinitions".into(), columns);
    table.insert("rows".into(), Value::Array(rows));
    Value::Object(table)
}

/// The apiserver's `asTable` replaces each row object by
/// `meta.AsPartialObjectMetadata` in the Table's own group version.
fn partial_object_metadata(object: &Value) -> Value {
    let metadata = at(object, &["metadata"])
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// ListMeta keeps only its three fields, each omitted when empty (`omitempty`).
fn list_meta_json(list_meta: &Value) -> Value {
    let mut out = Map::new();
    for key in ["resourceVersion", "continue"] {
        if let Some(v) = opt_str_at(list_meta, &[key]).filter(|v| !v.is_empty()) {
            out.insert(key.into(), s(v));
        }
    }
    if let Some(count) = opt_int_at(list_meta, &["remainingItemCount"]) {
        out.insert("remainingItemCount".into(), n(count));
    }
    Value::Object(out)
}

fn plan(group: &str, kind: &str, custom: Option<&[PrinterColumn]>) -> Plan {
    if let Some(columns) = custom {
        return custom_plan(columns);
    }
    if let Some((columns, row)) = builtin(group, kind) {
        return Plan {
            columns,
            renderer: Renderer::Builtin(row),
        };
    }
    if uses_default_convertor(group, kind) {
        return Plan {
            columns: vec![name_col(), c("Created At", "date", AGE_DESC)],
            renderer: Renderer::CreatedAt,
        };
    }
    // An unknown kind is most likely a custom resource whose CRD was not
    // passed in; the CRD default (Name, Age) is the closest real answer.
    custom_plan(&[])
}

/// Kinds served by `rest.NewDefaultTableConvertor` in the real apiserver.
fn uses_default_convertor(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("", "LimitRange")
    )
}

/// The CRD table convertor: Name, then each printer column; a version
/// without printer columns gets the logical default `Age` (type `date`).
fn custom_plan(columns: &[PrinterColumn]) -> Plan {
    let default_age;
    let columns = if columns.is_empty() {
        default_age = [PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            description: AGE_DESC.into(),
            json_path: ".metadata.creationTimestamp".into(),
            ..PrinterColumn::default()
        }];
        &default_age[..]
    } else {
        columns
    };
    let mut defs = vec![name_col()];
    let mut compiled = Vec::new();
    for column in columns {
        let description = if column.description.is_empty() {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                column.json_path
            )
        } else {
            column.description.clone()
        };
        defs.push(ColumnDef {
            name: column.name.clone(),
            type_: column.type_.clone(),
            format: column.format.clone(),
            description,
            priority: column.priority,
        });
        compiled.push((column.type_.clone(), parse_json_path(&column.json_path)));
    }
    Plan {
        columns: defs,
        renderer: Renderer::Custom(compiled),
    }
}

/// The CRD convertor's cells: the first JSONPath result per column, printed
/// as text for `string` columns and converted by type otherwise; no result
/// is a null cell (kubectl shows `<none>`).
fn custom_cells(object: &Value, columns: &[(String, Option<Vec<Seg>>)], now: i64) -> Vec<Value> {
    let mut cells = vec![s(name_of(object))];
    for (type_, path) in columns {
        let first = path
            .as_ref()
            .and_then(|p| eval_path(object, p).into_iter().next());
        let cell = match first {
            None | Some(Value::Null) => Value::Null,
            Some(value) if type_ == "string" => {
                jsonpath_text(value).map_or(Value::Null, Value::String)
            }
            Some(value) => cell_for_json_value(type_, value, now),
        };
        cells.push(cell);
    }
    cells
}

/// `cellForJSONValue` of the CRD convertor: values of the wrong JSON type
/// become null rather than an error.
fn cell_for_json_value(type_: &str, value: &Value, now: i64) -> Value {
    match (type_, value) {
        ("integer", Value::Number(num)) => match num.as_i64() {
            Some(i) => n(i),
            // Go decodes non-integral (or too large) numbers to float64 and
            // truncates them with int64(...).
            None => num.as_f64().map_or(Value::Null, |f| n(f as i64)),
        },
        // Kept as the original number: Go's float64 of an integer encodes
        // without a fraction, which serde_json would add back.
        ("number", Value::Number(_)) => value.clone(),
        ("boolean", Value::Bool(_)) => value.clone(),
        ("date", Value::String(text)) => {
            if text.is_empty() || text == "null" {
                return s("<unknown>");
            }
            match parse_timestamp(text) {
                None => s("<invalid>"),
                Some(t) if t == ZERO_TIME_UNIX => s("<unknown>"),
                Some(t) => s(since(Some(t), now)),
            }
        }
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------------------
// Built-in printers
// ---------------------------------------------------------------------------

fn c(name: &str, type_: &str, description: &str) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: description.into(),
        priority: 0,
    }
}

/// A priority-1 column: shown by kubectl only with `-o wide`.
fn w(name: &str, type_: &str, description: &str) -> ColumnDef {
    ColumnDef {
        priority: 1,
        ..c(name, type_, description)
    }
}

fn name_col() -> ColumnDef {
    ColumnDef {
        format: "name".into(),
        ..c("Name", "string", NAME_DESC)
    }
}

fn age_col() -> ColumnDef {
    c("Age", "string", AGE_DESC)
}

/// The printer for a built-in kind, by API group and kind. Legacy groups that
/// share the internal type (`extensions`, `events.k8s.io`) share the printer.
fn builtin(group: &str, kind: &str) -> Option<(Vec<ColumnDef>, RowFn)> {
    let found: (Vec<ColumnDef>, RowFn) = match (group, kind) {
        ("", "Pod") => (pod_columns(), print_pod),
        ("", "PodTemplate") => (
            vec![
                name_col(),
                c("Containers", "string", CONTAINERS_DESC),
                c("Images", "string", IMAGES_DESC),
                c("Pod Labels", "string", "The labels for the pod template."),
            ],
            print_pod_template,
        ),
        ("", "ReplicationController") => (replica_columns(), print_replication_controller),
        ("apps" | "extensions", "ReplicaSet") => (replica_columns(), print_replica_set),
        ("apps" | "extensions", "Deployment") => (
            vec![
                name_col(),
                c("Ready", "string", "Number of the pod with ready state"),
                c(
                    "Up-to-date",
                    "string",
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                c(
                    "Available",
                    "string",
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age_col(),
                w("Containers", "string", CONTAINERS_DESC),
                w("Images", "string", IMAGES_DESC),
                w(
                    "Selector",
                    "string",
                    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
                ),
            ],
            print_deployment,
        ),
        ("apps" | "extensions", "StatefulSet") => (
            vec![
                name_col(),
                c("Ready", "string", "Number of the pod with ready state"),
                age_col(),
                w("Containers", "string", CONTAINERS_DESC),
                w("Images", "string", IMAGES_DESC),
            ],
            print_stateful_set,
        ),
        ("apps" | "extensions", "DaemonSet") => (
            vec![
                name_col(),
                c(
                    "Desired",
                    "integer",
                    "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
                ),
                c(
                    "Current",
                    "integer",
                    "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
                ),
                c(
                    "Ready",
                    "integer",
                    "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
                ),
                c(
                    "Up-to-date",
                    "integer",
                    "The total number of nodes that are running updated daemon pod",
                ),
                c(
                    "Available",
                    "integer",
                    "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
                ),
                c(
                    "Node Selector",
                    "string",
                    "NodeSelector is a selector which must be true for the pod to fit on a node.",
                ),
                age_col(),
                w("Containers", "string", CONTAINERS_DESC),
                w("Images", "string", IMAGES_DESC),
                w("Selector", "string", SELECTOR_DESC),
            ],
            print_daemon_set,
        ),
        ("apps", "ControllerRevision") => (
            vec![
                name_col(),
                c("Controller", "string", "Controller of the object"),
                c(
                    "Revision",
                    "string",
                    "Revision indicates the revision of the state represented by Data.",
                ),
                age_col(),
            ],
            print_controller_revision,
        ),
        ("batch", "Job") => (
            vec![
                name_col(),
                c("Status", "string", "Status of the job."),
                c(
                    "Completions",
                    "string",
                    "The number of pods which reached phase Succeeded.",
                ),
                c("Duration", "string", "Time required to complete the job."),
                age_col(),
                w("Containers", "string", CONTAINERS_DESC),
                w("Images", "string", IMAGES_DESC),
                w(
                    "Selector",
                    "string",
                    "A label query over pods that should match the pod count.",
                ),
            ],
            print_job,
        ),
        ("batch", "CronJob") => (
            vec![
                name_col(),
                c(
                    "Schedule",
                    "string",
                    "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
                ),
                c(
                    "Timezone",
                    "string",
                    "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
                ),
                c(
                    "Suspend",
                    "boolean",
                    "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
                ),
                c(
                    "Active",
                    "integer",
                    "A list of pointers to currently running jobs.",
                ),
                c(
                    "Last Schedule",
                    "string",
                    "Information when was the last time the job was successfully scheduled.",
                ),
                age_col(),
                w("Containers", "string", CONTAINERS_DESC),
                w("Images", "string", IMAGES_DESC),
                w(
                    "Selector",
                    "string",
                    "A label query over pods that should match the pod count.",
                ),
            ],
            print_cron_job,
        ),
        ("", "Service") => (
            vec![
                name_col(),
                c(
                    "Type",
                    "string",
                    "type determines how the Service is exposed. Defaults to ClusterIP.",
                ),
                c(
                    "Cluster-IP",
                    "string",
                    "clusterIP is the IP address of the service and is usually assigned randomly.",
                ),
                c(
                    "External-IP",
                    "string",
                    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                ),
                c(
                    "Port(s)",
                    "string",
                    "The list of ports that are exposed by this service.",
                ),
                age_col(),
                w(
                    "Selector",
                    "string",
                    "Route service traffic to pods with label keys and values matching this selector.",
                ),
            ],
            print_service,
        ),
        ("networking.k8s.io" | "extensions", "Ingress") => (
            vec![
                name_col(),
                c(
                    "Class",
                    "string",
                    "The name of the IngressClass resource that should be used for additional configuration",
                ),
                c(
                    "Hosts",
                    "string",
                    "Hosts that incoming requests are matched against before the ingress rule",
                ),
                c(
                    "Address",
                    "string",
                    "Address is a list containing ingress points for the load-balancer",
                ),
                c("Ports", "string", "Ports of TLS configurations that open"),
                age_col(),
            ],
            print_ingress,
        ),
        ("networking.k8s.io", "IngressClass") => (
            vec![
                name_col(),
                c(
                    "Controller",
                    "string",
                    "Controller that is responsible for handling this class",
                ),
                c(
                    "Parameters",
                    "string",
                    "A reference to a resource with additional parameters",
                ),
                age_col(),
            ],
            print_ingress_class,
        ),
        ("networking.k8s.io" | "extensions", "NetworkPolicy") => (
            vec![
                name_col(),
                c(
                    "Pod-Selector",
                    "string",
                    "Selects the pods to which this NetworkPolicy object applies.",
                ),
                age_col(),
            ],
            print_network_policy,
        ),
        ("", "Endpoints") => (
            vec![
                name_col(),
                c(
                    "Endpoints",
                    "string",
                    "The set of all endpoints is the union of all subsets.",
                ),
                age_col(),
            ],
            print_endpoints,
        ),
        ("discovery.k8s.io", "EndpointSlice") => (
            vec![
                name_col(),
                c(
                    "AddressType",
                    "string",
                    "addressType specifies the type of address carried by this EndpointSlice.",
                ),
                c(
                    "Ports",
                    "string",
                    "ports specifies the list of network ports exposed by each endpoint in this slice.",
                ),
                c(
                    "Endpoints",
                    "string",
                    "endpoints is a list of unique endpoints in this slice.",
                ),
                age_col(),
            ],
            print_endpoint_slice,
        ),
        ("", "Node") => (
            vec![
                name_col(),
                c("Status", "string", "The status of the node"),
                c("Roles", "string", "The roles of the node"),
                age_col(),
                c("Version", "string", "Kubelet Version reported by the node."),
                w(
                    "Internal-IP",
                    "string",
                    "List of addresses reachable to the node.",
                ),
                w(
                    "External-IP",
                    "string",
                    "List of addresses reachable to the node.",
                ),
                w(
                    "OS-Image",
                    "string",
                    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                ),
                w(
                    "Kernel-Version",
                    "string",
                    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                ),
                w(
                    "Container-Runtime",
                    "string",
                    "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                ),
            ],
            print_node,
        ),
        ("" | "events.k8s.io", "Event") => (
            vec![
                c(
                    "Last Seen",
                    "string",
                    "The time at which the most recent occurrence of this event was recorded.",
                ),
                c(
                    "Type",
                    "string",
                    "Type of this event (Normal, Warning), new types could be added in the future",
                ),
                c(
                    "Reason",
                    "string",
                    "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                ),
                c("Object", "string", "The object that this event is about."),
                w(
                    "Subobject",
                    "string",
                    "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
                ),
                w(
                    "Source",
                    "string",
                    "The component reporting this event. Should be a short machine understandable string.",
                ),
                c(
                    "Message",
                    "string",
                    "A human-readable description of the status of this operation.",
                ),
                w(
                    "First Seen",
                    "string",
                    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
                ),
                w(
                    "Count",
                    "string",
                    "The number of times this event has occurred.",
                ),
                ColumnDef {
                    priority: 1,
                    ..name_col()
                },
            ],
            print_event,
        ),
        ("", "Namespace") => (
            vec![
                name_col(),
                c("Status", "string", "The status of the namespace"),
                age_col(),
            ],
            print_namespace,
        ),
        ("", "Secret") => (
            vec![
                name_col(),
                c(
                    "Type",
                    "string",
                    "Used to facilitate programmatic handling of secret data.",
                ),
                c("Data", "string", "Data contains the secret data."),
                age_col(),
            ],
            print_secret,
        ),
        ("", "ServiceAccount") => (
            vec![
                name_col(),
                c(
                    "Secrets",
                    "string",
                    "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                ),
                age_col(),
            ],
            print_service_account,
        ),
        ("", "ConfigMap") => (
            vec![
                name_col(),
                c("Data", "string", "Data contains the configuration data."),
                age_col(),
            ],
            print_config_map,
        ),
        ("", "PersistentVolume") => (
            vec![
                name_col(),
                c(
                    "Capacity",
                    "string",
                    "capacity is the description of the persistent volume's resources and capacity.",
                ),
                c(
                    "Access Modes",
                    "string",
                    "accessModes contains all ways the volume can be mounted.",
                ),
                c(
                    "Reclaim Policy",
                    "string",
                    "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
                ),
                c(
                    "Status",
                    "string",
                    "phase indicates if a volume is available, bound to a claim, or released by a claim.",
                ),
                c(
                    "Claim",
                    "string",
                    "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
                ),
                c("StorageClass", "string", "StorageClass of the pv"),
                c(
                    "VolumeAttributesClass",
                    "string",
                    "VolumeAttributesClass of the pv",
                ),
                c(
                    "Reason",
                    "string",
                    "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
                ),
                age_col(),
                w(
                    "VolumeMode",
                    "string",
                    "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
                ),
            ],
            print_persistent_volume,
        ),
        ("", "PersistentVolumeClaim") => (
            vec![
                name_col(),
                c(
                    "Status",
                    "string",
                    "phase represents the current phase of PersistentVolumeClaim.",
                ),
                c(
                    "Volume",
                    "string",
                    "volumeName is the binding reference to the PersistentVolume backing this claim.",
                ),
                c(
                    "Capacity",
                    "string",
                    "capacity represents the actual resources of the underlying volume.",
                ),
                c(
                    "Access Modes",
                    "string",
                    "accessModes contains the actual access modes the volume backing the PVC has.",
                ),
                c("StorageClass", "string", "StorageClass of the pvc"),
                c(
                    "VolumeAttributesClass",
                    "string",
                    "VolumeAttributesClass of the pvc",
                ),
                age_col(),
                w(
                    "VolumeMode",
                    "string",
                    "volumeMode defines what type of volume is required by the claim.",
                ),
            ],
            print_persistent_volume_claim,
        ),
        ("autoscaling", "HorizontalPodAutoscaler") => (
            vec![
                name_col(),
                c(
                    "Reference",
                    "string",
                    "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
                ),
                c(
                    "Targets",
                    "string",
                    "metrics contains the specifications for which to use to calculate the desired replica count.",
                ),
                c(
                    "MinPods",
                    "string",
                    "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
                ),
                c(
                    "MaxPods",
                    "string",
                    "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
                ),
                c(
                    "Replicas",
                    "string",
                    "currentReplicas is current number of replicas of pods managed by this autoscaler.",
                ),
                age_col(),
            ],
            print_horizontal_pod_autoscaler,
        ),
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            (binding_columns("roleBinding"), print_role_binding)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            (binding_columns("clusterRoleBinding"), print_role_binding)
        }
        ("policy", "PodDisruptionBudget") => (
            vec![
                name_col(),
                c(
                    "Min Available",
                    "string",
                    "The minimum number of pods that must be available.",
                ),
                c(
                    "Max Unavailable",
                    "string",
                    "The maximum number of pods that may be unavailable.",
                ),
                c(
                    "Allowed Disruptions",
                    "integer",
                    "Calculated number of pods that may be disrupted at this time.",
                ),
                age_col(),
            ],
            print_pod_disruption_budget,
        ),
        ("storage.k8s.io", "StorageClass") => (
            vec![
                name_col(),
                c(
                    "Provisioner",
                    "string",
                    "provisioner indicates the type of the provisioner.",
                ),
                c(
                    "ReclaimPolicy",
                    "string",
                    "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
                ),
                c(
                    "VolumeBindingMode",
                    "string",
                    "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
                ),
                c(
                    "AllowVolumeExpansion",
                    "string",
                    "allowVolumeExpansion shows whether the storage class allow volume expand.",
                ),
                age_col(),
            ],
            print_storage_class,
        ),
        ("coordination.k8s.io", "Lease") => (
            vec![
                name_col(),
                c(
                    "Holder",
                    "string",
                    "holderIdentity contains the identity of the holder of a current lease.",
                ),
                age_col(),
            ],
            print_lease,
        ),
        ("scheduling.k8s.io", "PriorityClass") => (
            vec![
                name_col(),
                c(
                    "Value",
                    "integer",
                    "value represents the integer value of this priority class.",
                ),
                c(
                    "Global-Default",
                    "boolean",
                    "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
                ),
                age_col(),
                c(
                    "PreemptionPolicy",
                    "string",
                    "preemptionPolicy is the Policy for preempting pods with lower priority.",
                ),
            ],
            print_priority_class,
        ),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => (
            vec![
                name_col(),
                c(
                    "Webhooks",
                    "integer",
                    "Webhooks indicates the number of webhooks registered in this configuration",
                ),
                age_col(),
            ],
            print_webhook_configuration,
        ),
        ("apiregistration.k8s.io", "APIService") => (
            vec![
                name_col(),
                c(
                    "Service",
                    "string",
                    "The reference to the service that hosts this API endpoint.",
                ),
                c("Available", "string", "Whether this service is available."),
                age_col(),
            ],
            print_api_service,
        ),
        _ => return None,
    };
    Some(found)
}

fn pod_columns() -> Vec<ColumnDef> {
    vec![
        name_col(),
        c(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        c(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        c(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_col(),
        w(
            "IP",
            "string",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        ),
        w(
            "Node",
            "string",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.",
        ),
        w(
            "Nominated Node",
            "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
        ),
        w(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness.",
        ),
    ]
}

/// Shared by ReplicaSet and ReplicationController.
fn replica_columns() -> Vec<ColumnDef> {
    vec![
        name_col(),
        c(
            "Desired",
            "integer",
            "Replicas is the number of desired replicas.",
        ),
        c(
            "Current",
            "integer",
            "Replicas is the most recently observed number of replicas.",
        ),
        c(
            "Ready",
            "integer",
            "The number of ready replicas for this replica set.",
        ),
        age_col(),
        w("Containers", "string", CONTAINERS_DESC),
        w("Images", "string", IMAGES_DESC),
        w("Selector", "string", SELECTOR_DESC),
    ]
}

fn binding_columns(what: &str) -> Vec<ColumnDef> {
    vec![
        name_col(),
        c(
            "Role",
            "string",
            "RoleRef can only reference the current namespace or a ClusterRole.",
        ),
        age_col(),
        w("Users", "string", &format!("Users in the {what}")),
        w("Groups", "string", &format!("Groups in the {what}")),
        w(
            "ServiceAccounts",
            "string",
            &format!("ServiceAccounts in the {what}"),
        ),
    ]
}

/// `printPod`: the READY count, the STATUS reason (init progress, waiting and
/// terminated reasons, Terminating, ...) and RESTARTS with the time since the
/// last restart, exactly as the real printer derives them.
fn print_pod(pod: &Value, ctx: &Ctx) -> Row {
    let phase = str_at(pod, &["status", "phase"]);
    let status_reason = str_at(pod, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    let conditions = arr_at(pod, &["status", "conditions"]);
    if conditions.iter().any(|cond| {
        str_at(cond, &["type"]) == "PodScheduled" && str_at(cond, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".into();
    }
    // Finished pods carry a row condition; kubectl uses it to tell them apart.
    let row_conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };

    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    // Sidecars (init containers with restartPolicy Always) count as containers.
    let is_sidecar = |spec: &Value| str_at(spec, &["restartPolicy"]) == "Always";
    let restartable = |name: &str| {
        init_specs
            .iter()
            .rev()
            .find(|spec| str_at(spec, &["name"]) == name)
            .is_some_and(is_sidecar)
    };
    let total = count(arr_at(pod, &["spec", "containers"]).len()).saturating_add(count(
        init_specs.iter().filter(|spec| is_sidecar(spec)).count(),
    ));
    let mut ready: i64 = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<i64> = None;
    let mut last_sidecar_restart: Option<i64> = None;

    let mut initializing = false;
    for (i, status) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let restart_count = int_at(status, &["restartCount"]);
        restarts = restarts.saturating_add(restart_count);
        let finished = last_termination(status);
        later(&mut last_restart, finished);
        let sidecar = restartable(str_at(status, &["name"]));
        if sidecar {
            sidecar_restarts = sidecar_restarts.saturating_add(restart_count);
            later(&mut last_sidecar_restart, finished);
        }
        let terminated = at(status, &["state", "terminated"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && opt_bool_at(status, &["started"]) == Some(true) {
            if bool_at(status, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
        reason = if let Some(t) = terminated {
            let r = str_at(t, &["reason"]);
            if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(t, &["signal"]) != 0 {
                format!("Init:Signal:{}", int_at(t, &["signal"]))
            } else {
                format!("Init:ExitCode:{}", int_at(t, &["exitCode"]))
            }
        } else if present(status, &["state", "waiting"])
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .find(|cond| str_at(cond, &["type"]) == "Initialized")
        .is_some_and(|cond| str_at(cond, &["status"]) == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts = restarts.saturating_add(int_at(status, &["restartCount"]));
            later(&mut last_restart, last_termination(status));
            let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
            let terminated = at(status, &["state", "terminated"]);
            if present(status, &["state", "waiting"]) && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int_at(t, &["signal"]) != 0 {
                    format!("Signal:{}", int_at(t, &["signal"]))
                } else {
                    format!("ExitCode:{}", int_at(t, &["exitCode"]))
                };
            } else if bool_at(status, &["ready"]) && present(status, &["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs is not "Completed".
        if reason == "Completed" && has_running {
            let pod_ready = conditions.iter().any(|cond| {
                str_at(cond, &["type"]) == "Ready" && str_at(cond, &["status"]) == "True"
            });
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    let deleting = present(pod, &["metadata", "deletionTimestamp"]);
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), ctx.now)),
        _ => restarts.to_string(),
    };

    // Wide cells: the server always renders them.
    let pod_ips = arr_at(pod, &["status", "podIPs"]);
    let pod_ip = match pod_ips.first() {
        Some(first) => str_at(first, &["ip"]),
        // v1 objects may only carry the singular field; conversion fills podIPs from it.
        None => str_at(pod, &["status", "podIP"]),
    };
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|gate| {
                let wanted = str_at(gate, &["conditionType"]);
                conditions
                    .iter()
                    .find(|cond| str_at(cond, &["type"]) == wanted)
                    .is_some_and(|cond| str_at(cond, &["status"]) == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    Row {
        cells: vec![
            s(name_of(pod)),
            s(format!("{ready}/{total}")),
            s(reason),
            s(restarts_text),
            s(age_of(pod, ctx)),
            s(or_none(pod_ip)),
            s(or_none(str_at(pod, &["spec", "nodeName"]))),
            s(or_none(str_at(pod, &["status", "nominatedNodeName"]))),
            s(gates_text),
        ],
        conditions: row_conditions,
    }
}

/// `lastState.terminated.finishedAt` of a container status, if it terminated before.
fn last_termination(status: &Value) -> Option<i64> {
    if present(status, &["lastState", "terminated"]) {
        time_at(status, &["lastState", "terminated", "finishedAt"])
    } else {
        None
    }
}

fn later(slot: &mut Option<i64>, candidate: Option<i64>) {
    if let Some(t) = candidate
        && slot.is_none_or(|current| current < t)
    {
        *slot = Some(t);
    }
}

fn print_pod_template(obj: &Value, _ctx: &Ctx) -> Row {
    let (names, images) = layout_containers(arr_at(obj, &["template", "spec", "containers"]));
    Row::new(vec![
        s(name_of(obj)),
        s(names),
        s(images),
        s(format_labels(at(obj, &["template", "metadata", "labels"]))),
    ])
}

fn print_replication_controller(obj: &Value, ctx: &Ctx) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name_of(obj)),
        n(replicas(obj)),
        n(int_at(obj, &["status", "replicas"])),
        n(int_at(obj, &["status", "readyReplicas"])),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
        s(format_labels(at(obj, &["spec", "selector"]))),
    ])
}

fn print_replica_set(obj: &Value, ctx: &Ctx) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name_of(obj)),
        n(replicas(obj)),
        n(int_at(obj, &["status", "replicas"])),
        n(int_at(obj, &["status", "readyReplicas"])),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
        s(format_label_selector(at(obj, &["spec", "selector"]))),
    ])
}

fn print_deployment(obj: &Value, ctx: &Ctx) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    // The Deployment printer uses the bare selector string: "" when there is
    // no selector and "<invalid>" when it does not parse.
    let selector =
        selector_string(at(obj, &["spec", "selector"])).unwrap_or_else(|| "<invalid>".into());
    Row::new(vec![
        s(name_of(obj)),
        s(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            replicas(obj)
        )),
        n(int_at(obj, &["status", "updatedReplicas"])),
        n(int_at(obj, &["status", "availableReplicas"])),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
        s(selector),
    ])
}

fn print_stateful_set(obj: &Value, ctx: &Ctx) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name_of(obj)),
        s(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            replicas(obj)
        )),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
    ])
}

fn print_daemon_set(obj: &Value, ctx: &Ctx) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name_of(obj)),
        n(int_at(obj, &["status", "desiredNumberScheduled"])),
        n(int_at(obj, &["status", "currentNumberScheduled"])),
        n(int_at(obj, &["status", "numberReady"])),
        n(int_at(obj, &["status", "updatedNumberScheduled"])),
        n(int_at(obj, &["status", "numberAvailable"])),
        s(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
        s(format_label_selector(at(obj, &["spec", "selector"]))),
    ])
}

fn print_controller_revision(obj: &Value, ctx: &Ctx) -> Row {
    let controller = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|owner| bool_at(owner, &["controller"]));
    let controller = match controller {
        None => "<none>".to_string(),
        Some(owner) => {
            let api_version = str_at(owner, &["apiVersion"]);
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let kind = str_at(owner, &["kind"]);
            let name = str_at(owner, &["name"]);
            if group.is_empty() && kind.is_empty() {
                name.to_string()
            } else if group.is_empty() {
                format!("{}/{name}", kind.to_lowercase())
            } else {
                format!("{}/{name}", format!("{kind}.{group}").to_lowercase())
            }
        }
    };
    Row::new(vec![
        s(name_of(obj)),
        s(controller),
        n(int_at(obj, &["revision"])),
        s(age_of(obj, ctx)),
    ])
}

fn print_job(obj: &Value, ctx: &Ctx) -> Row {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match opt_int_at(obj, &["spec", "completions"]) {
        Some(total) => format!("{succeeded}/{total}"),
        None => {
            let parallelism = opt_int_at(obj, &["spec", "parallelism"]).unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let duration = match (
        time_at(obj, &["status", "startTime"]),
        time_at(obj, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start), ctx.now),
        (Some(start), Some(end)) => human_duration(go_duration(end.saturating_sub(start))),
    };
    let conditions = arr_at(obj, &["status", "conditions"]);
    let status = if has_true_condition(conditions, "Complete") {
        "Complete"
    } else if has_true_condition(conditions, "Failed") {
        "Failed"
    } else if present(obj, &["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else if has_true_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_true_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name_of(obj)),
        s(status),
        s(completions),
        s(duration),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
        s(format_label_selector(at(obj, &["spec", "selector"]))),
    ])
}

/// `hasJobCondition`: the first condition of that type decides.
fn has_true_condition(conditions: &[Value], type_: &str) -> bool {
    conditions
        .iter()
        .find(|cond| str_at(cond, &["type"]) == type_)
        .is_some_and(|cond| str_at(cond, &["status"]) == "True")
}

fn print_cron_job(obj: &Value, ctx: &Ctx) -> Row {
    let last_schedule = if present(obj, &["status", "lastScheduleTime"]) {
        since(time_at(obj, &["status", "lastScheduleTime"]), ctx.now)
    } else {
        "<none>".to_string()
    };
    let time_zone = opt_str_at(obj, &["spec", "timeZone"]).unwrap_or("<none>");
    // spec.suspend is defaulted to false on write.
    let suspend = if bool_at(obj, &["spec", "suspend"]) {
        "True"
    } else {
        "False"
    };
    let (names, images) = layout_containers(arr_at(
        obj,
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
    ));
    Row::new(vec![
        s(name_of(obj)),
        s(str_at(obj, &["spec", "schedule"])),
        s(time_zone),
        s(suspend),
        n(count(arr_at(obj, &["status", "active"]).len())),
        s(last_schedule),
        s(age_of(obj, ctx)),
        s(names),
        s(images),
        s(format_label_selector(at(
            obj,
            &["spec", "jobTemplate", "spec", "selector"],
        ))),
    ])
}

fn print_service(svc: &Value, ctx: &Ctx) -> Row {
    let svc_type = non_empty(str_at(svc, &["spec", "type"])).unwrap_or("ClusterIP");
    let cluster_ip = match arr_at(svc, &["spec", "clusterIPs"]).first() {
        Some(ip) => ip.as_str().unwrap_or(""),
        None => non_empty(str_at(svc, &["spec", "clusterIP"])).unwrap_or("<none>"),
    };
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|port| {
            let number = int_at(port, &["port"]);
            let protocol = non_empty(str_at(port, &["protocol"])).unwrap_or("TCP");
            let node_port = int_at(port, &["nodePort"]);
            if node_port > 0 {
                format!("{number}:{node_port}/{protocol}")
            } else {
                format!("{number}/{protocol}")
            }
        })
        .collect();
    let ports = ports.join(",");
    Row::new(vec![
        s(name_of(svc)),
        s(svc_type),
        s(cluster_ip),
        s(service_external_ip(svc, svc_type)),
        s(or_none(&ports)),
        s(age_of(svc, ctx)),
        s(format_labels(at(svc, &["spec", "selector"]))),
    ])
}

/// `getServiceExternalIP` with `wide` set, so load-balancer addresses are not clipped.
fn service_external_ip(svc: &Value, svc_type: &str) -> String {
    let external_ips: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".into()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_addresses(arr_at(svc, &["status", "loadBalancer", "ingress"]));
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external_ips);
                return all.join(",");
            }
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".into(),
    }
}

/// The sorted, de-duplicated IPs (else hostnames) of load-balancer ingress points.
fn load_balancer_addresses(ingress: &[Value]) -> String {
    let set: BTreeSet<&str> = ingress
        .iter()
        .filter_map(|point| {
            non_empty(str_at(point, &["ip"])).or_else(|| non_empty(str_at(point, &["hostname"])))
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn print_ingress(obj: &Value, ctx: &Ctx) -> Row {
    let class = opt_str_at(obj, &["spec", "ingressClassName"]).unwrap_or("<none>");
    let rules = arr_at(obj, &["spec", "rules"]);
    // formatHosts: at most three hosts, then "+ N more..." counted over all rules.
    let max = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == max {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!(
            "{} + {} more...",
            hosts.join(","),
            rules.len().saturating_sub(max)
        )
    } else {
        hosts.join(",")
    };
    let address = load_balancer_addresses(arr_at(obj, &["status", "loadBalancer", "ingress"]));
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    Row::new(vec![
        s(name_of(obj)),
        s(class),
        s(hosts),
        s(address),
        s(ports),
        s(age_of(obj, ctx)),
    ])
}

fn print_ingress_class(obj: &Value, ctx: &Ctx) -> Row {
    let parameters = match at(obj, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut text = str_at(p, &["kind"]).to_string();
            if let Some(group) = opt_str_at(p, &["apiGroup"]) {
                text = format!("{text}.{group}");
            }
            format!("{text}/{}", str_at(p, &["name"]))
        }
    };
    Row::new(vec![
        s(name_of(obj)),
        s(str_at(obj, &["spec", "controller"])),
        s(parameters),
        s(age_of(obj, ctx)),
    ])
}

fn print_network_policy(obj: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![
        s(name_of(obj)),
        s(format_label_selector(at(obj, &["spec", "podSelector"]))),
        s(age_of(obj, ctx)),
    ])
}

/// `formatEndpoints`: up to three `ip:port` entries, then "+ N more...".
fn print_endpoints(obj: &Value, ctx: &Ctx) -> Row {
    let subsets = arr_at(obj, &["subsets"]);
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let max = 3;
        let mut list: Vec<String> = Vec::new();
        let mut more = false;
        let mut total: usize = 0;
        for subset in subsets {
            let addresses = arr_at(subset, &["addresses"]);
            let ports = arr_at(subset, &["ports"]);
            if ports.is_empty() {
                // Headless services may have no ports.
                total += addresses.len();
                for address in addresses {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    list.push(str_at(address, &["ip"]).to_string());
                }
                continue;
            }
            for port in ports {
                total += addresses.len();
                for address in addresses {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    list.push(join_host_port(
                        str_at(address, &["ip"]),
                        int_at(port, &["port"]),
                    ));
                }
            }
        }
        if more {
            format!("{} + {} more...", list.join(","), total.saturating_sub(max))
        } else {
            list.join(",")
        }
    };
    Row::new(vec![s(name_of(obj)), s(text), s(age_of(obj, ctx))])
}

/// `net.JoinHostPort`: IPv6 hosts are bracketed.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn print_endpoint_slice(obj: &Value, ctx: &Ctx) -> Row {
    let max = 3;
    let ports: Vec<String> = arr_at(obj, &["ports"])
        .iter()
        .map(|port| match opt_int_at(port, &["port"]) {
            Some(number) => number.to_string(),
            None => opt_str_at(port, &["name"]).unwrap_or("*").to_string(),
        })
        .collect();
    let addresses: Vec<String> = arr_at(obj, &["endpoints"])
        .iter()
        .flat_map(|endpoint| arr_at(endpoint, &["addresses"]))
        .map(|address| address.as_str().unwrap_or("").to_string())
        .collect();
    Row::new(vec![
        s(name_of(obj)),
        s(str_at(obj, &["addressType"])),
        s(list_with_more(&ports, max)),
        s(list_with_more(&addresses, max)),
        s(age_of(obj, ctx)),
    ])
}

/// `listWithMoreString`: the first `max` items, "+ N more...", `<unset>` when empty.
fn list_with_more(items: &[String], max: usize) -> String {
    let shown = items.get(..max).unwrap_or(items).join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else if shown.is_empty() {
        "<unset>".into()
    } else {
        shown
    }
}

fn print_node(node: &Value, ctx: &Ctx) -> Row {
    // Only the Ready condition is shown; a later duplicate wins, as in the Go map.
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|cond| str_at(cond, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(cond) if str_at(cond, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    if let Some(labels) = obj_at(node, &["metadata", "labels"]) {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if key == "kubernetes.io/role" {
                let role = value.as_str().unwrap_or("");
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            }
        }
    }
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let address = |type_: &str| {
        arr_at(node, &["status", "addresses"])
            .iter()
            .find(|a| str_at(a, &["type"]) == type_)
            .map_or("<none>", |a| str_at(a, &["address"]))
    };
    let info = |field: &str| {
        non_empty(str_at(node, &["status", "nodeInfo", field])).unwrap_or("<unknown>")
    };
    Row::new(vec![
        s(name_of(node)),
        s(status.join(",")),
        s(or_none(&roles)),
        s(age_of(node, ctx)),
        s(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        s(address("InternalIP")),
        s(address("ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ])
}

/// `printEvent`, for both core/v1 and events.k8s.io/v1 field names (they share
/// one internal type, hence one printer).
fn print_event(ev: &Value, ctx: &Ctx) -> Row {
    let new_api = ctx.group == "events.k8s.io";
    let pick = |core: &'static str, events: &'static str| if new_api { events } else { core };
    let first_ts = time_at(ev, &[pick("firstTimestamp", "deprecatedFirstTimestamp")]);
    let first = if first_ts.is_some() {
        since(first_ts, ctx.now)
    } else {
        since(time_at(ev, &["eventTime"]), ctx.now)
    };
    let last_ts = time_at(ev, &[pick("lastTimestamp", "deprecatedLastTimestamp")]);
    let mut last = if last_ts.is_some() {
        since(last_ts, ctx.now)
    } else {
        first.clone()
    };
    let mut event_count = int_at(ev, &[pick("count", "deprecatedCount")]);
    if let Some(series) = at(ev, &["series"]) {
        last = since(time_at(series, &["lastObservedTime"]), ctx.now);
        event_count = int_at(series, &["count"]);
    } else if event_count == 0 {
        // Singleton events do not set a count in the new API.
        event_count = 1;
    }
    let involved = pick("involvedObject", "regarding");
    let kind = str_at(ev, &[involved, "kind"]).to_lowercase();
    let target_name = str_at(ev, &[involved, "name"]);
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };
    let source = pick("source", "deprecatedSource");
    let component = non_empty(str_at(ev, &[source, "component"]))
        .unwrap_or_else(|| str_at(ev, &[pick("reportingComponent", "reportingController")]));
    let host = non_empty(str_at(ev, &[source, "host"]))
        .unwrap_or_else(|| str_at(ev, &["reportingInstance"]));
    let source_text = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    Row::new(vec![
        s(last),
        s(str_at(ev, &["type"])),
        s(str_at(ev, &["reason"])),
        s(target),
        s(str_at(ev, &[involved, "fieldPath"])),
        s(source_text),
        s(str_at(ev, &[pick("message", "note")]).trim()),
        s(first),
        n(event_count),
        s(name_of(ev)),
    ])
}

fn print_namespace(obj: &Value, ctx: &Ctx) -> Row {
    // The namespace strategy sets phase Active on create.
    let phase = non_empty(str_at(obj, &["status", "phase"])).unwrap_or("Active");
    Row::new(vec![s(name_of(obj)), s(phase), s(age_of(obj, ctx))])
}

fn print_secret(obj: &Value, ctx: &Ctx) -> Row {
    // The type defaults to Opaque, and stringData is merged into data on write.
    let secret_type = non_empty(str_at(obj, &["type"])).unwrap_or("Opaque");
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for field in ["data", "stringData"] {
        if let Some(map) = obj_at(obj, &[field]) {
            keys.extend(map.keys().map(String::as_str));
        }
    }
    Row::new(vec![
        s(name_of(obj)),
        s(secret_type),
        n(count(keys.len())),
        s(age_of(obj, ctx)),
    ])
}

fn print_service_account(obj: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![
        s(name_of(obj)),
        n(count(arr_at(obj, &["secrets"]).len())),
        s(age_of(obj, ctx)),
    ])
}

fn print_config_map(obj: &Value, ctx: &Ctx) -> Row {
    let entries = len_at(obj, &["data"]).saturating_add(len_at(obj, &["binaryData"]));
    Row::new(vec![
        s(name_of(obj)),
        n(count(entries)),
        s(age_of(obj, ctx)),
    ])
}

fn print_persistent_volume(obj: &Value, ctx: &Ctx) -> Row {
    let claim = match at(obj, &["spec", "claimRef"]) {
        Some(r) => format!("{}/{}", str_at(r, &["namespace"]), str_at(r, &["name"])),
        None => String::new(),
    };
    let phase = if present(obj, &["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else {
        non_empty(str_at(obj, &["status", "phase"])).unwrap_or("Pending")
    };
    let class = opt_str_at(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .unwrap_or_else(|| str_at(obj, &["spec", "storageClassName"]));
    Row::new(vec![
        s(name_of(obj)),
        s(quantity_at(obj, &["spec", "capacity", "storage"]).unwrap_or_else(|| "0".into())),
        s(access_modes(arr_at(obj, &["spec", "accessModes"]))),
        s(non_empty(str_at(obj, &["spec", "persistentVolumeReclaimPolicy"])).unwrap_or("Retain")),
        s(phase),
        s(claim),
        s(class),
        s(opt_str_at(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        s(str_at(obj, &["status", "reason"])),
        s(age_of(obj, ctx)),
        s(non_empty(str_at(obj, &["spec", "volumeMode"])).unwrap_or("Filesystem")),
    ])
}

fn print_persistent_volume_claim(obj: &Value, ctx: &Ctx) -> Row {
    let phase = if present(obj, &["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else {
        non_empty(str_at(obj, &["status", "phase"])).unwrap_or("Pending")
    };
    let volume = str_at(obj, &["spec", "volumeName"]);
    // Capacity and access modes are shown only once the claim is bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity_at(obj, &["status", "capacity", "storage"]).unwrap_or_else(|| "0".into()),
            access_modes(arr_at(obj, &["status", "accessModes"])),
        )
    };
    let class = opt_str_at(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .unwrap_or_else(|| str_at(obj, &["spec", "storageClassName"]));
    Row::new(vec![
        s(name_of(obj)),
        s(phase),
        s(volume),
        s(capacity),
        s(modes),
        s(class),
        s(opt_str_at(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        s(age_of(obj, ctx)),
        s(non_empty(str_at(obj, &["spec", "volumeMode"])).unwrap_or("Filesystem")),
    ])
}

/// `GetAccessModesAsString`: de-duplicated, in a fixed order.
fn access_modes(modes: &[Value]) -> String {
    let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn print_horizontal_pod_autoscaler(obj: &Value, ctx: &Ctx) -> Row {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    // minReplicas is defaulted to 1 on write.
    let min_pods = opt_int_at(obj, &["spec", "minReplicas"]).unwrap_or(1);
    Row::new(vec![
        s(name_of(obj)),
        s(reference),
        s(hpa_targets(obj)),
        s(min_pods.to_string()),
        n(int_at(obj, &["spec", "maxReplicas"])),
        n(int_at(obj, &["status", "currentReplicas"])),
        s(age_of(obj, ctx)),
    ])
}

/// `formatHPAMetrics` over autoscaling/v2 metrics (two shown, then "+ N more...").
/// An HPA without metrics shows the defaulted target, CPU at 80% (or the
/// autoscaling/v1 `targetCPUUtilizationPercentage`).
fn hpa_targets(obj: &Value) -> String {
    let specs = arr_at(obj, &["spec", "metrics"]);
    let statuses = arr_at(obj, &["status", "currentMetrics"]);
    if specs.is_empty() {
        let target = opt_int_at(obj, &["spec", "targetCPUUtilizationPercentage"]).unwrap_or(80);
        let current = statuses
            .first()
            .and_then(|st| opt_int_at(st, &["resource", "current", "averageUtilization"]))
            .or_else(|| opt_int_at(obj, &["status", "currentCPUUtilizationPercentage"]))
            .map_or_else(|| "<unknown>".to_string(), |c| format!("{c}%"));
        return format!("cpu: {current}/{target}%");
    }
    let unknown = || "<unknown>".to_string();
    let qty = |v: &Value, path: &[&str]| quantity_at(v, path).unwrap_or_else(|| "<nil>".into());
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let status_of = |field: &str| status.and_then(|st| at(st, &[field]));
        let entry = match str_at(spec, &["type"]) {
            source @ ("External" | "Object") => {
                let field = if source == "External" {
                    "external"
                } else {
                    "object"
                };
                if present(spec, &[field, "target", "averageValue"]) {
                    let current = status_of(field)
                        .filter(|st| present(st, &["current", "averageValue"]))
                        .map_or_else(unknown, |st| qty(st, &["current", "averageValue"]));
                    format!(
                        "{current}/{} (avg)",
                        qty(spec, &[field, "target", "averageValue"])
                    )
                } else {
                    let current =
                        status_of(field).map_or_else(unknown, |st| qty(st, &["current", "value"]));
                    format!("{current}/{}", qty(spec, &[field, "target", "value"]))
                }
            }
            "Pods" => {
                let current = status_of("pods")
                    .map_or_else(unknown, |st| qty(st, &["current", "averageValue"]));
                format!(
                    "{current}/{}",
                    qty(spec, &["pods", "target", "averageValue"])
                )
            }
            source @ ("Resource" | "ContainerResource") => {
                let field = if source == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let name = str_at(spec, &[field, "name"]);
                if present(spec, &[field, "target", "averageValue"]) {
                    let current = status_of(field)
                        .map_or_else(unknown, |st| qty(st, &["current", "averageValue"]));
                    format!(
                        "{name}: {current}/{}",
                        qty(spec, &[field, "target", "averageValue"])
                    )
                } else {
                    let current = status_of(field)
                        .and_then(|st| opt_int_at(st, &["current", "averageUtilization"]))
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let target = opt_int_at(spec, &[field, "target", "averageUtilization"])
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let max = 2;
    if list.len() > max {
        let more = list.len() - max;
        list.truncate(max);
        return format!("{} + {more} more...", list.join(", "));
    }
    list.join(", ")
}

fn print_role_binding(obj: &Value, ctx: &Ctx) -> Row {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(obj, &["subjects"]) {
        let name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "ServiceAccount" => {
                service_accounts.push(format!("{}/{name}", str_at(subject, &["namespace"])))
            }
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    Row::new(vec![
        s(name_of(obj)),
        s(role),
        s(age_of(obj, ctx)),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(service_accounts.join(", ")),
    ])
}

fn print_pod_disruption_budget(obj: &Value, ctx: &Ctx) -> Row {
    let bound =
        |field: &str| at(obj, &["spec", field]).map_or_else(|| "N/A".to_string(), int_or_string);
    Row::new(vec![
        s(name_of(obj)),
        s(bound("minAvailable")),
        s(bound("maxUnavailable")),
        n(int_at(obj, &["status", "disruptionsAllowed"])),
        s(age_of(obj, ctx)),
    ])
}

fn print_storage_class(obj: &Value, ctx: &Ctx) -> Row {
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| str_at(obj, &["metadata", "annotations", key]) == "true");
    let mut name = name_of(obj).to_string();
    if is_default {
        name.push_str(" (default)");
    }
    Row::new(vec![
        s(name),
        s(str_at(obj, &["provisioner"])),
        s(non_empty(str_at(obj, &["reclaimPolicy"])).unwrap_or("Delete")),
        s(non_empty(str_at(obj, &["volumeBindingMode"])).unwrap_or("Immediate")),
        Value::Bool(bool_at(obj, &["allowVolumeExpansion"])),
        s(age_of(obj, ctx)),
    ])
}

fn print_lease(obj: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![
        s(name_of(obj)),
        s(str_at(obj, &["spec", "holderIdentity"])),
        s(age_of(obj, ctx)),
    ])
}

fn print_priority_class(obj: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![
        s(name_of(obj)),
        n(int_at(obj, &["value"])),
        Value::Bool(bool_at(obj, &["globalDefault"])),
        s(age_of(obj, ctx)),
        s(non_empty(str_at(obj, &["preemptionPolicy"])).unwrap_or("PreemptLowerPriority")),
    ])
}

fn print_webhook_configuration(obj: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![
        s(name_of(obj)),
        n(count(arr_at(obj, &["webhooks"]).len())),
        s(age_of(obj, ctx)),
    ])
}

/// kube-aggregator's APIService convertor.
fn print_api_service(obj: &Value, ctx: &Ctx) -> Row {
    let service = match at(obj, &["spec", "service"]) {
        Some(svc) => format!("{}/{}", str_at(svc, &["namespace"]), str_at(svc, &["name"])),
        None => "Local".to_string(),
    };
    let available = arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|cond| str_at(cond, &["type"]) == "Available");
    let available = match available {
        None => "Unknown".to_string(),
        Some(cond) => {
            let status = str_at(cond, &["status"]);
            let reason = str_at(cond, &["reason"]);
            if status != "True" && !reason.is_empty() {
                format!("{status} ({reason})")
            } else {
                status.to_string()
            }
        }
    };
    Row::new(vec![
        s(name_of(obj)),
        s(service),
        s(available),
        s(age_of(obj, ctx)),
    ])
}

// ---------------------------------------------------------------------------
// Formatting helpers shared by the printers
// ---------------------------------------------------------------------------

/// `layoutContainerCells`: names and images, each comma-joined.
fn layout_containers(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|ct| str_at(ct, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|ct| str_at(ct, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(labels: Option<&Value>) -> String {
    let Some(map) = labels.and_then(Value::as_object) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// `metav1.FormatLabelSelector`: `<none>` for an empty selector, `<error>`
/// for one that does not parse.
fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        None => "<error>".into(),
        Some(text) if text.is_empty() => "<none>".into(),
        Some(text) => text,
    }
}

/// `LabelSelectorAsSelector(sel).String()`: requirements sorted by key,
/// `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; `None` if it does not parse.
/// A missing selector selects nothing and an empty one everything; both print "".
fn selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector else {
        return Some(String::new());
    };
    let labels = obj_at(selector, &["matchLabels"]);
    let expressions = arr_at(selector, &["matchExpressions"]);
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        requirements.push((
            key.clone(),
            format!("{key}={}", value.as_str().unwrap_or("")),
        ));
    }
    for expression in expressions {
        let key = str_at(expression, &["key"]);
        let mut values: Vec<&str> = arr_at(expression, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        values.sort_unstable();
        let text = match str_at(expression, &["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return None;
                }
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        requirements
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(num) => num
            .as_i64()
            .map_or_else(|| num.to_string(), |i| i.to_string()),
        _ => String::new(),
    }
}

/// A resource quantity as stored (the apiserver stores them canonicalized,
/// so the stored text is what `Quantity.String()` prints).
fn quantity_at(obj: &Value, path: &[&str]) -> Option<String> {
    match at(obj, path)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(num) => Some(go_number_text(num)),
        _ => None,
    }
}

/// The metav1.Time printed by the default convertor (`Time.UTC().Format(time.RFC3339)`).
fn format_rfc3339(unix: Option<i64>) -> String {
    let Some(unix) = unix else {
        return "0001-01-01T00:00:00Z".into();
    };
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "<none>" } else { text }
}

fn non_empty(text: &str) -> Option<&str> {
    if text.is_empty() { None } else { Some(text) }
}

fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

fn n(value: i64) -> Value {
    Value::from(value)
}

fn count(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// `spec.replicas`, which the apiserver defaults to 1.
fn replicas(obj: &Value) -> i64 {
    opt_int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn name_of(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

fn age_of(obj: &Value, ctx: &Ctx) -> String {
    since(time_at(obj, &["metadata", "creationTimestamp"]), ctx.now)
}

/// `translateTimestampSince`: `<unknown>` for an unset time.
fn since(time: Option<i64>, now: i64) -> String {
    match time {
        None => "<unknown>".into(),
        Some(t) => human_duration(go_duration(now.saturating_sub(t))),
    }
}

fn go_duration(seconds: i64) -> i64 {
    seconds.clamp(-MAX_DURATION_SECS, MAX_DURATION_SECS)
}

// ---------------------------------------------------------------------------
// JSON access that never panics
// ---------------------------------------------------------------------------

/// The value at `path`; JSON null counts as absent, like a nil Go pointer.
fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut current = value;
    for key in path {
        current = current.as_object()?.get(*key)?;
    }
    if current.is_null() {
        None
    } else {
        Some(current)
    }
}

fn present(value: &Value, path: &[&str]) -> bool {
    at(value, path).is_some()
}

fn opt_str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    opt_str_at(value, path).unwrap_or("")
}

fn opt_int_at(value: &Value, path: &[&str]) -> Option<i64> {
    let num = at(value, path)?.as_number()?;
    num.as_i64()
        .or_else(|| num.as_u64().map(|_| i64::MAX))
        .or_else(|| num.as_f64().map(|f| f as i64))
}

fn int_at(value: &Value, path: &[&str]) -> i64 {
    opt_int_at(value, path).unwrap_or(0)
}

fn opt_bool_at(value: &Value, path: &[&str]) -> Option<bool> {
    at(value, path).and_then(Value::as_bool)
}

fn bool_at(value: &Value, path: &[&str]) -> bool {
    opt_bool_at(value, path).unwrap_or(false)
}

fn arr_at<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn obj_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    at(value, path).and_then(Value::as_object)
}

fn len_at(value: &Value, path: &[&str]) -> usize {
    obj_at(value, path).map_or(0, Map::len)
}

/// A metav1.Time field as Unix seconds; missing, unparsable and the zero
/// time are all "unset".
fn time_at(value: &Value, path: &[&str]) -> Option<i64> {
    opt_str_at(value, path)
        .and_then(parse_timestamp)
        .filter(|t| *t != ZERO_TIME_UNIX)
}

// ---------------------------------------------------------------------------
// Calendar arithmetic (proleptic Gregorian, as Go's time package)
// ---------------------------------------------------------------------------

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------
// JSONPath subset for CRD printer columns
// ---------------------------------------------------------------------------

/// One step of a printer-column JSONPath. CRD validation only admits simple
/// paths; this covers fields (`.a`, `['a.b']`), indexes (`[0]`, `[-1]`),
/// wildcards and filters such as `[?(@.type=="Ready")]`.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Box<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
struct Filter {
    path: Vec<Seg>,
    /// `None` is an existence test (`[?(@.a)]`).
    compare: Option<(CmpOp, Literal)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// Parses `.spec.x`, `{.spec.x}` or `$.spec.x`; `None` for anything outside the subset.
fn parse_json_path(source: &str) -> Option<Vec<Seg>> {
    let text = source.trim();
    let text = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text)
        .trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    let chars: Vec<char> = text.chars().collect();
    let mut segs = Vec::new();
    let mut i = 0;
    // Tolerate a path written without its leading dot.
    let mut expect_field = chars.first().is_some_and(|c| *c != '.' && *c != '[');
    while i < chars.len() || expect_field {
        if expect_field || chars.get(i) == Some(&'.') {
            if !expect_field {
                i += 1;
            }
            expect_field = false;
            match chars.get(i) {
                Some('.') => return None, // recursive descent is not supported
                Some('*') => {
                    segs.push(Seg::Wildcard);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let mut name = String::new();
            while let Some(&ch) = chars.get(i) {
                if ch == '\\'
                    && let Some(&escaped) = chars.get(i + 1)
                {
                    name.push(escaped);
                    i += 2;
                    continue;
                }
                if ch == '.' || ch == '[' {
                    break;
                }
                name.push(ch);
                i += 1;
            }
            if name.is_empty() {
                // A lone trailing "." (as in "{.}") is the object itself.
                if i >= chars.len() {
                    break;
                }
                return None;
            }
            segs.push(Seg::Field(name));
        } else if chars.get(i) == Some(&'[') {
            let start = i + 1;
            let mut j = start;
            let mut depth = 0usize;
            let mut quote: Option<char> = None;
            loop {
                let ch = *chars.get(j)?;
                match quote {
                    Some(q) if ch == q => quote = None,
                    Some(_) => {}
                    None => match ch {
                        '\'' | '"' => quote = Some(ch),
                        '(' => depth += 1,
                        ')' => depth = depth.saturating_sub(1),
                        ']' if depth == 0 => break,
                        _ => {}
                    },
                }
                j += 1;
            }
            let inner: String = chars.get(start..j)?.iter().collect();
            segs.push(parse_bracket(inner.trim())?);
            i = j + 1;
        } else {
            return None;
        }
    }
    Some(segs)
}

fn parse_bracket(inner: &str) -> Option<Seg> {
    if inner == "*" {
        return Some(Seg::Wildcard);
    }
    if let Some(rest) = inner.strip_prefix('?') {
        let expr = rest.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
        return Some(Seg::Filter(Box::new(parse_filter(expr)?)));
    }
    if let Some(key) = unquote(inner) {
        return Some(Seg::Field(key));
    }
    inner.parse::<i64>().ok().map(Seg::Index)
}

fn unquote(text: &str) -> Option<String> {
    for q in ['\'', '"'] {
        if let Some(body) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return Some(body.to_string());
        }
    }
    None
}

fn parse_filter(expr: &str) -> Option<Filter> {
    // Find the comparison operator outside quotes.
    let bytes = expr.as_bytes();
    let mut quote: Option<u8> = None;
    let mut found: Option<(usize, usize, CmpOp)> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        let next = bytes.get(i + 1).copied();
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => {
                let op = match (b, next) {
                    (b'\'' | b'"', _) => {
                        quote = Some(b);
                        None
                    }
                    (b'=', Some(b'=')) => Some((2, CmpOp::Eq)),
                    (b'!', Some(b'=')) => Some((2, CmpOp::Ne)),
                    (b'<', Some(b'=')) => Some((2, CmpOp::Le)),
                    (b'>', Some(b'=')) => Some((2, CmpOp::Ge)),
                    (b'<', _) => Some((1, CmpOp::Lt)),
                    (b'>', _) => Some((1, CmpOp::Gt)),
                    _ => None,
                };
                if let Some((len, op)) = op {
                    found = Some((i, len, op));
                    break;
                }
            }
        }
        i += 1;
    }
    let (left, compare) = match found {
        None => (expr, None),
        Some((at_index, len, op)) => {
            let left = expr.get(..at_index)?.trim();
            let right = expr.get(at_index + len..)?.trim();
            (left, Some((op, parse_literal(right)?)))
        }
    };
    let path_text = left.strip_prefix('@')?;
    let path = if path_text.is_empty() {
        Vec::new()
    } else {
        parse_json_path(path_text)?
    };
    Some(Filter { path, compare })
}

fn parse_literal(text: &str) -> Option<Literal> {
    if let Some(body) = unquote(text) {
        return Some(Literal::Str(body));
    }
    match text {
        "true" => Some(Literal::Bool(true)),
        "false" => Some(Literal::Bool(false)),
        _ => text.parse::<f64>().ok().map(Literal::Num),
    }
}

/// Every value the path reaches, in document order; missing keys drop out
/// (the CRD convertor sets `AllowMissingKeys`).
fn eval_path<'a>(root: &'a Value, segs: &[Seg]) -> Vec<&'a Value> {
    let mut current = vec![root];
    for seg in segs {
        let mut next = Vec::new();
        for value in current {
            match seg {
                Seg::Field(name) => {
                    if let Some(found) = value.as_object().and_then(|m| m.get(name)) {
                        next.push(found);
                    }
                }
                Seg::Index(index) => {
                    if let Some(items) = value.as_array() {
                        let resolved = if *index < 0 {
                            count(items.len()).checked_add(*index)
                        } else {
                            Some(*index)
                        };
                        if let Some(found) = resolved
                            .and_then(|r| usize::try_from(r).ok())
                            .and_then(|r| items.get(r))
                        {
                            next.push(found);
                        }
                    }
                }
                Seg::Wildcard => match value {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Seg::Filter(filter) => {
                    if let Some(items) = value.as_array() {
                        next.extend(items.iter().filter(|item| filter_matches(filter, item)));
                    }
                }
            }
        }
        current = next;
    }
    current
}

fn filter_matches(filter: &Filter, item: &Value) -> bool {
    let found = eval_path(item, &filter.path);
    let Some((op, literal)) = &filter.compare else {
        return !found.is_empty();
    };
    found.iter().any(|value| {
        let ordering = match (value, literal) {
            (Value::String(a), Literal::Str(b)) => a.as_str().partial_cmp(b.as_str()),
            (Value::Number(a), Literal::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
            (Value::Bool(a), Literal::Bool(b)) => {
                // Booleans only compare for (in)equality.
                return match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                    _ => false,
                };
            }
            _ => None,
        };
        let Some(ordering) = ordering else {
            return false;
        };
        match op {
            CmpOp::Eq => ordering.is_eq(),
            CmpOp::Ne => ordering.is_ne(),
            CmpOp::Lt => ordering.is_lt(),
            CmpOp::Le => ordering.is_le(),
            CmpOp::Gt => ordering.is_gt(),
            CmpOp::Ge => ordering.is_ge(),
        }
    })
}

// ---------------------------------------------------------------------------
// Go-compatible text of JSON values (for `string` printer columns)
// ---------------------------------------------------------------------------

/// What the JSONPath printer writes for a value: strings raw, numbers as Go's
/// `fmt.Print`, objects and arrays as Go's `json.Marshal` (sorted keys).
fn jsonpath_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(num) => Some(go_number_text(num)),
        Value::Array(_) | Value::Object(_) => {
            let mut out = String::new();
            go_json(value, &mut out);
            Some(out)
        }
    }
}

/// Unstructured objects hold integers as int64 and everything else as
/// float64, which `fmt.Print` writes with `%v` (`1e+06` style above 1e6).
fn go_number_text(num: &Number) -> String {
    match num.as_i64() {
        Some(i) => i.to_string(),
        None => go_fmt_float(num.as_f64().unwrap_or(0.0)),
    }
}

/// Go `%v` of a float64: shortest digits, exponent form when the exponent
/// is below -4 or at least 6 (Go's `%g` rule for the shortest precision).
fn go_fmt_float(f: f64) -> String {
    let (neg, digits, exp) = float_digits(f);
    if !(-4..6).contains(&exp) {
        exp_form(neg, &digits, exp, 2)
    } else {
        fixed_form(neg, &digits, exp)
    }
}

/// Go `encoding/json` of a float64: fixed notation unless the magnitude is
/// below 1e-6 or at least 1e21, with the exponent's leading zero dropped.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    let (neg, digits, exp) = float_digits(f);
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        exp_form(neg, &digits, exp, 1)
    } else {
        fixed_form(neg, &digits, exp)
    }
}

/// Shortest round-trip decimal digits of `f` and the power of ten of the first digit.
fn float_digits(f: f64) -> (bool, String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (f < 0.0, digits, exponent.parse().unwrap_or(0))
}

fn exp_form(neg: bool, digits: &str, exp: i32, min_exp_digits: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let mut chars = digits.chars();
    out.push(chars.next().unwrap_or('0'));
    let rest: String = chars.collect();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(&rest);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!(
        "{:0width$}",
        exp.unsigned_abs(),
        width = min_exp_digits
    ));
    out
}

fn fixed_form(neg: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let point = i64::from(exp) + 1;
    let len = count(digits.len());
    if point <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(usize::try_from(-point).unwrap_or(0)));
        out.push_str(digits);
    } else if point >= len {
        out.push_str(digits);
        out.push_str(&"0".repeat(usize::try_from(point - len).unwrap_or(0)));
    } else {
        let split = usize::try_from(point).unwrap_or(0);
        out.push_str(digits.get(..split).unwrap_or(""));
        out.push('.');
        out.push_str(digits.get(split..).unwrap_or(""));
    }
    out
}

/// Go `json.Marshal` of an unstructured value: map keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped as Go does.
fn go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(num) => match num.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&go_json_float(num.as_f64().unwrap_or(0.0))),
        },
        Value::String(text) => go_json_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(key, out);
                out.push(':');
                go_json(item, out);
            }
            out.push('}');
        }
    }
}

fn go_json_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(ch)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z
    const T0: i64 = 1_704_067_200;
    const CREATED: &str = "2024-01-01T00:00:00Z";

    fn cells(table: &Value) -> Vec<Vec<Value>> {
        table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["cells"].as_array().unwrap().clone())
            .collect()
    }

    fn column_names(table: &Value) -> Vec<(String, i64)> {
        table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["priority"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn one(group: &str, kind: &str, obj: Value, now: i64) -> Value {
        to_table(
            group,
            kind,
            &[obj],
            IncludeObject::None,
            None,
            json!({}),
            now,
        )
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        let cases: &[(i64, &str)] = &[
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (310, "5m10s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 30 * 60, "3h30m"),
            (8 * 3600 + 59 * 60, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (53 * 3600, "2d5h"),
            (8 * 86_400, "8d"),
            (10 * 86_400 + 7 * 3600, "10d"),
            (729 * 86_400, "729d"),
            (730 * 86_400, "2y"),
            (740 * 86_400, "2y10d"),
            (8 * 365 * 86_400, "8y"),
            (MAX_DURATION_SECS, "292y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(*secs), *want, "{secs}s");
        }
    }

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(parse_timestamp(CREATED), Some(T0));
        assert_eq!(parse_timestamp("2024-01-01T02:00:00+02:00"), Some(T0));
        assert_eq!(parse_timestamp("2024-01-01T00:00:00.123456Z"), Some(T0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z"),
            Some(T0 + 59 * 86_400)
        );
        assert_eq!(parse_timestamp("2023-02-29T00:00:00Z"), None);
        assert_eq!(
            parse_timestamp("0001-01-01T00:00:00Z"),
            Some(ZERO_TIME_UNIX)
        );
        assert_eq!(parse_timestamp("2024-01-01 00:00:00Z"), None);
        assert_eq!(parse_timestamp("2024-01-01T00:00:00"), None);
        assert_eq!(parse_timestamp("2024-01-01T00:00:00Zjunk"), None);
        assert_eq!(parse_timestamp("é"), None);
        assert_eq!(format_rfc3339(Some(T0 + 3723)), "2024-01-01T01:02:03Z");
        assert_eq!(format_rfc3339(Some(-1)), "1969-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(None), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn ready_deployment() {
        let deploy = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx", "namespace": "default", "creationTimestamp": CREATED, "resourceVersion": "42"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.25"},
                    {"name": "sidecar", "image": "busybox"}
                ]}}
            },
            "status": {"replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
        });
        let table = to_table(
            "apps",
            "Deployment",
            &[deploy],
            IncludeObject::Metadata,
            None,
            json!({"resourceVersion": "99", "continue": ""}),
            T0 + 300,
        );
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["metadata"], json!({"resourceVersion": "99"}));
        assert_eq!(
            column_names(&table),
            [
                ("Name", 0),
                ("Ready", 0),
                ("Up-to-date", 0),
                ("Available", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
            .map(|(n, p)| (n.to_string(), p))
        );
        assert_eq!(table["columnDefinitions"][0]["format"], "name");
        assert_eq!(table["columnDefinitions"][0]["type"], "string");
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("nginx"),
                json!("3/3"),
                json!(3),
                json!(3),
                json!("5m"),
                json!("nginx,sidecar"),
                json!("nginx:1.25,busybox"),
                json!("app=nginx")
            ]
        );
        let object = &table["rows"][0]["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"]["resourceVersion"], "42");
        assert_eq!(object["metadata"]["namespace"], "default");
    }

    #[test]
    fn deployment_defaults_replicas_and_formats_expressions() {
        let deploy = json!({
            "metadata": {"name": "d", "creationTimestamp": CREATED},
            "spec": {"selector": {
                "matchLabels": {"tier": "web"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "canary", "operator": "DoesNotExist"}
                ]
            }},
            "status": {}
        });
        let table = one("apps", "Deployment", deploy, T0 + 30);
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("d"),
                json!("0/1"),
                json!(0),
                json!(0),
                json!("30s"),
                json!(""),
                json!(""),
                json!("!canary,env in (dev,prod),tier=web")
            ]
        );
    }

    #[test]
    fn running_pod() {
        let pod = json!({
            "metadata": {"name": "web-0", "creationTimestamp": CREATED},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "nginx"}]},
            "status": {
                "phase": "Running",
                "podIP": "10.244.0.5",
                "podIPs": [{"ip": "10.244.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{
                    "name": "app", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": CREATED}}
                }]
            }
        });
        let table = one("", "Pod", pod, T0 + 45);
        assert_eq!(
            column_names(&table)
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("web-0"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("45s"),
                json!("10.244.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert!(table["rows"][0].get("object").is_none());
        assert!(table["rows"][0].get("conditions").is_none());
    }

    #[test]
    fn crashlooping_pod_with_restarts_and_gates() {
        let now = T0 + 3600;
        let pod = json!({
            "metadata": {"name": "api", "creationTimestamp": CREATED},
            "spec": {
                "containers": [{"name": "a"}, {"name": "b"}],
                "readinessGates": [{"conditionType": "example.com/gate"}]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "example.com/gate", "status": "True"}],
                "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 2,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:57:50Z"}}},
                    {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
                ]
            }
        });
        let table = one("", "Pod", pod, now);
        let row = &cells(&table)[0];
        assert_eq!(row[1], json!("1/2"));
        assert_eq!(row[2], json!("CrashLoopBackOff"));
        assert_eq!(row[3], json!("2 (2m10s ago)"));
        assert_eq!(row[4], json!("60m"));
        assert_eq!(row[5], json!("<none>"));
        assert_eq!(row[8], json!("1/1"));
    }

    #[test]
    fn pod_init_progress_completion_and_termination() {
        let init = json!({
            "metadata": {"name": "p", "creationTimestamp": CREATED},
            "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"running": {}}}
            ]}
        });
        assert_eq!(cells(&one("", "Pod", init, T0))[0][2], json!("Init:1/2"));

        let done = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ]}
        });
        let table = one("", "Pod", done, T0);
        assert_eq!(
            cells(&table)[0][1..5],
            [
                json!("0/1"),
                json!("Completed"),
                json!("0"),
                json!("<unknown>")
            ]
        );
        assert_eq!(table["rows"][0]["conditions"][0]["reason"], "Succeeded");

        let deleting = json!({
            "metadata": {"name": "p", "deletionTimestamp": CREATED},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running"}
        });
        assert_eq!(
            cells(&one("", "Pod", deleting, T0))[0][2],
            json!("Terminating")
        );
    }

    #[test]
    fn cluster_ip_service_with_ports() {
        let svc = json!({
            "metadata": {"name": "kube-dns", "creationTimestamp": CREATED},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "selector": {"k8s-app": "kube-dns"},
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    {"name": "metrics", "port": 9153}
                ]
            }
        });
        let table = one("", "Service", svc, T0 + 3 * 3600);
        assert_eq!(
            column_names(&table),
            [
                ("Name", 0),
                ("Type", 0),
                ("Cluster-IP", 0),
                ("External-IP", 0),
                ("Port(s)", 0),
                ("Age", 0),
                ("Selector", 1)
            ]
            .map(|(n, p)| (n.to_string(), p))
        );
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("kube-dns"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("53/UDP,53/TCP,9153/TCP"),
                json!("3h"),
                json!("k8s-app=kube-dns")
            ]
        );
    }

    #[test]
    fn load_balancer_service() {
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": CREATED},
            "spec": {
                "type": "LoadBalancer",
                "clusterIPs": ["10.96.1.2"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
                "selector": {"app": "web", "tier": "front"}
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}}
        });
        let table = one("", "Service", svc.clone(), T0 + 2 * 86_400);
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("web"),
                json!("LoadBalancer"),
                json!("10.96.1.2"),
                json!("203.0.113.7,lb.example.com"),
                json!("80:30080/TCP"),
                json!("2d"),
                json!("app=web,tier=front")
            ]
        );
        let mut pending = svc;
        pending["status"] = json!({});
        pending["spec"]["ports"] = json!([]);
        let row = &cells(&one("", "Service", pending, T0))[0];
        assert_eq!(row[3], json!("<pending>"));
        assert_eq!(row[4], json!("<none>"));
    }

    #[test]
    fn namespace_config_map_secret() {
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": CREATED}, "status": {"phase": "Active"}});
        let table = one("", "Namespace", ns, T0 + 10 * 86_400);
        assert_eq!(column_names(&table).len(), 3);
        assert_eq!(
            cells(&table)[0],
            vec![json!("default"), json!("Active"), json!("10d")]
        );

        let cm = json!({
            "metadata": {"name": "cfg", "creationTimestamp": CREATED},
            "data": {"a": "1", "b": "2"},
            "binaryData": {"c": "AA=="}
        });
        let table = one("", "ConfigMap", cm, T0 + 90);
        assert_eq!(
            column_names(&table),
            [("Name", 0), ("Data", 0), ("Age", 0)].map(|(n, p)| (n.to_string(), p))
        );
        assert_eq!(cells(&table)[0], vec![json!("cfg"), json!(3), json!("90s")]);

        let secret = json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"a": "x", "b": "y"}});
        assert_eq!(
            cells(&one("", "Secret", secret, T0))[0],
            vec![json!("s"), json!("Opaque"), json!(2), json!("<unknown>")]
        );
    }

    #[test]
    fn complete_job() {
        let job = json!({
            "metadata": {"name": "pi", "creationTimestamp": CREATED},
            "spec": {
                "completions": 1, "parallelism": 1,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
                "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}
            },
            "status": {
                "succeeded": 1,
                "startTime": "2024-01-01T00:00:02Z",
                "completionTime": "2024-01-01T00:00:14Z",
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"}
                ]
            }
        });
        let table = one("batch", "Job", job, T0 + 600);
        assert_eq!(
            column_names(&table)
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            [
                "Name",
                "Status",
                "Completions",
                "Duration",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("12s"),
                json!("10m"),
                json!("pi"),
                json!("perl:5.34"),
                json!("batch.kubernetes.io/controller-uid=abc")
            ]
        );

        let running = json!({
            "metadata": {"name": "par"},
            "spec": {"parallelism": 3},
            "status": {"succeeded": 1, "startTime": CREATED}
        });
        let row = &cells(&one("batch", "Job", running, T0 + 95))[0];
        assert_eq!(
            row[1..4],
            [json!("Running"), json!("1/1 of 3"), json!("95s")]
        );
        assert_eq!(row[7], json!("<none>"));
    }

    #[test]
    fn cron_job() {
        let cj = json!({
            "metadata": {"name": "hello", "creationTimestamp": CREATED},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2024-01-01T00:09:00Z"}
        });
        assert_eq!(
            cells(&one("batch", "CronJob", cj, T0 + 600))[0],
            vec![
                json!("hello"),
                json!("*/1 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("60s"),
                json!("10m"),
                json!("hello"),
                json!("busybox"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn custom_resource_with_printer_columns() {
        let crd = json!({
            "spec": {"versions": [{"name": "v1", "additionalPrinterColumns": [
                {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Port", "type": "integer", "jsonPath": ".spec.ports[0].port"},
                {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
                {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
                {"name": "Labels", "type": "string", "jsonPath": ".spec.selector", "priority": 1, "description": "the selector"},
                {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
            ]}]}
        });
        let columns = PrinterColumn::for_crd_version(&crd, "v1");
        assert_eq!(columns.len(), 9);
        let obj = json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-cron", "creationTimestamp": CREATED},
            "spec": {
                "cronSpec": "* * * * */5", "replicas": 3, "ratio": 0.5, "paused": false,
                "ports": [{"port": 8080}, {"port": 9090}],
                "selector": {"z": "<1>", "a": 1.5}
            },
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}
        });
        let table = to_table(
            "stable.example.com",
            "CronTab",
            std::slice::from_ref(&obj),
            IncludeObject::Object,
            Some(&columns),
            json!({"resourceVersion": "7", "remainingItemCount": 4}),
            T0 + 800 * 86_400,
        );
        assert_eq!(
            table["metadata"],
            json!({"resourceVersion": "7", "remainingItemCount": 4})
        );
        let defs = table["columnDefinitions"].as_array().unwrap();
        assert_eq!(defs.len(), 10);
        assert_eq!(defs[0]["name"], "Name");
        assert_eq!(
            defs[1]["description"],
            "Custom resource definition column (in JSONPath format): .spec.cronSpec"
        );
        assert_eq!(defs[7]["description"], "the selector");
        assert_eq!(defs[7]["priority"], 1);
        assert_eq!(defs[9]["type"], "date");
        assert_eq!(
            cells(&table)[0],
            vec![
                json!("my-cron"),
                json!("* * * * */5"),
                json!(3),
                json!(8080),
                json!("True"),
                json!(0.5),
                json!(false),
                json!(r#"{"a":1.5,"z":"\u003c1\u003e"}"#),
                Value::Null,
                json!("2y70d")
            ]
        );
        assert_eq!(table["rows"][0]["object"], obj);
    }

    #[test]
    fn custom_resource_without_columns_gets_name_and_age() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": CREATED}});
        for table in [
            to_table(
                "example.com",
                "Widget",
                std::slice::from_ref(&obj),
                IncludeObject::None,
                Some(&[]),
                json!(null),
                T0 + 7,
            ),
            one("example.com", "Widget", obj.clone(), T0 + 7),
        ] {
            assert_eq!(
                column_names(&table),
                [("Name", 0), ("Age", 0)].map(|(n, p)| (n.to_string(), p))
            );
            assert_eq!(table["columnDefinitions"][1]["type"], "date");
            assert_eq!(cells(&table)[0], vec![json!("x"), json!("7s")]);
        }
    }

    #[test]
    fn default_convertor_kinds_show_created_at() {
        let role = json!({"metadata": {"name": "admin", "creationTimestamp": "2024-01-01T02:00:00+02:00"}});
        let table = one("rbac.authorization.k8s.io", "ClusterRole", role, T0);
        assert_eq!(
            column_names(&table),
            [("Name", 0), ("Created At", 0)].map(|(n, p)| (n.to_string(), p))
        );
        assert_eq!(table["columnDefinitions"][1]["type"], "date");
        assert_eq!(
            cells(&table)[0],
            vec![json!("admin"), json!("2024-01-01T00:00:00Z")]
        );
    }

    #[test]
    fn role_binding_node_event_and_friends() {
        let rb = json!({
            "metadata": {"name": "rb", "creationTimestamp": CREATED},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
                {"kind": "Group", "name": "devs"}
            ]
        });
        assert_eq!(
            cells(&one("rbac.authorization.k8s.io", "RoleBinding", rb, T0))[0],
            vec![
                json!("rb"),
                json!("ClusterRole/view"),
                json!("0s"),
                json!("alice"),
                json!("devs"),
                json!("ns/sa")
            ]
        );

        let node = json!({
            "metadata": {"name": "n1", "creationTimestamp": CREATED, "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Debian"}
            }
        });
        assert_eq!(
            cells(&one("", "Node", node, T0 + 86_400))[0],
            vec![
                json!("n1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane"),
                json!("24h"),
                json!("v1.35.0"),
                json!("172.18.0.2"),
                json!("<none>"),
                json!("Debian"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );

        let event = json!({
            "metadata": {"name": "web.17a"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": " pulled \n",
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": CREATED, "lastTimestamp": "2024-01-01T00:01:00Z", "count": 2
        });
        assert_eq!(
            cells(&one("", "Event", event, T0 + 120))[0],
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, n1"),
                json!("pulled"),
                json!("2m"),
                json!(2),
                json!("web.17a")
            ]
        );

        let new_event = json!({
            "metadata": {"name": "e"}, "regarding": {"kind": "Node", "name": "n1"},
            "note": "hi", "reason": "R", "type": "Warning", "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "ctl"
        });
        let row = &cells(&one("events.k8s.io", "Event", new_event, T0 + 5))[0];
        assert_eq!(
            row[..9],
            [
                json!("5s"),
                json!("Warning"),
                json!("R"),
                json!("node/n1"),
                json!(""),
                json!("ctl"),
                json!("hi"),
                json!("5s"),
                json!(1)
            ]
        );
    }

    #[test]
    fn other_printers() {
        let pvc = json!({
            "metadata": {"name": "data", "creationTimestamp": CREATED},
            "spec": {"volumeName": "pv-1", "storageClassName": "standard"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteOnce"]}
        });
        assert_eq!(
            cells(&one("", "PersistentVolumeClaim", pvc, T0))[0],
            vec![
                json!("data"),
                json!("Bound"),
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO"),
                json!("standard"),
                json!("<unset>"),
                json!("0s"),
                json!("Filesystem")
            ]
        );

        let ingress = json!({
            "metadata": {"name": "ing"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "a"}, {"host": "b"}, {}, {"host": "d"}, {"host": "e"}], "tls": [{}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
        });
        assert_eq!(
            cells(&one("networking.k8s.io", "Ingress", ingress, T0))[0][1..5],
            [
                json!("nginx"),
                json!("a,b,d + 2 more..."),
                json!("10.0.0.1"),
                json!("80, 443")
            ]
        );

        let ds = json!({
            "metadata": {"name": "ds"},
            "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}
        });
        assert_eq!(
            cells(&one("apps", "DaemonSet", ds, T0))[0][1..7],
            [
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux")
            ]
        );

        let hpa = json!({
            "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Pods", "pods": {"target": {"averageValue": "1k"}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"averageValue": "100Mi"}}}
            ]},
            "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}
        });
        assert_eq!(
            cells(&one("autoscaling", "HorizontalPodAutoscaler", hpa, T0))[0][1..6],
            [
                json!("Deployment/web"),
                json!("cpu: 12%/50%, <unknown>/1k + 1 more..."),
                json!("1"),
                json!(5),
                json!(2)
            ]
        );

        let ep = json!({"metadata": {"name": "ep"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            cells(&one("", "Endpoints", ep, T0))[0][1],
            json!("10.0.0.1:80,[fd00::1]:80,10.0.0.1:443 + 1 more...")
        );

        let sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
        assert_eq!(
            cells(&one("storage.k8s.io", "StorageClass", sc, T0))[0][..5],
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false)
            ]
        );

        let pdb = json!({"metadata": {"name": "pdb"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            cells(&one("policy", "PodDisruptionBudget", pdb, T0))[0][..4],
            [json!("pdb"), json!("50%"), json!("N/A"), json!(1)]
        );

        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
        assert_eq!(
            cells(&one("apps", "StatefulSet", sts, T0))[0][1],
            json!("2/3")
        );

        let rs = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}}, "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            cells(&one("apps", "ReplicaSet", rs, T0))[0][..4],
            [json!("rs"), json!(2), json!(2), json!(1)]
        );

        let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}});
        assert_eq!(
            cells(&one("coordination.k8s.io", "Lease", lease, T0))[0][1],
            json!("me")
        );

        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(cells(&one("", "ServiceAccount", sa, T0))[0][1], json!(0));
    }

    #[test]
    fn watch_events_and_include_object() {
        let pod = json!({"metadata": {"name": "p", "resourceVersion": "12", "managedFields": [{"manager": "kubectl"}]}});
        let first = to_table_watch_object("", "Pod", &pod, IncludeObject::Metadata, None, true, T0);
        assert_eq!(first["metadata"], json!({"resourceVersion": "12"}));
        assert_eq!(first["columnDefinitions"].as_array().map(Vec::len), Some(9));
        assert_eq!(
            first["rows"][0]["object"]["metadata"]["managedFields"][0]["manager"],
            "kubectl"
        );
        let later =
            to_table_watch_object("", "Pod", &pod, IncludeObject::Metadata, None, false, T0);
        assert_eq!(later["columnDefinitions"], Value::Null);
        assert_eq!(later["rows"].as_array().map(Vec::len), Some(1));

        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::from_query(Some("")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            Ok(IncludeObject::Object)
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")),
            Ok(IncludeObject::None)
        );
        assert_eq!(
            IncludeObject::from_query(Some("all")),
            Err("unrecognized includeObject value: \"all\"".to_string())
        );

        let empty = to_table(
            "",
            "Pod",
            &[],
            IncludeObject::Metadata,
            None,
            json!({"resourceVersion": "5"}),
            T0,
        );
        assert_eq!(empty["rows"], json!([]));
    }

    #[test]
    fn json_path_subset() {
        let doc = json!({"a": {"b.c": [1, {"d": "x"}], "list": [{"k": 1, "v": "one"}, {"k": 2, "v": "two"}]}});
        let eval = |path: &str| -> Vec<Value> {
            parse_json_path(path)
                .map(|segs| eval_path(&doc, &segs).into_iter().cloned().collect())
                .unwrap_or_else(|| vec![json!("unparsed")])
        };
        assert_eq!(eval(".a['b.c'][1].d"), vec![json!("x")]);
        assert_eq!(eval("{.a.list[-1].v}"), vec![json!("two")]);
        assert_eq!(eval(".a.list[*].k"), vec![json!(1), json!(2)]);
        assert_eq!(eval(".a.list[?(@.k>1)].v"), vec![json!("two")]);
        assert_eq!(eval(".a.list[?(@.v!='one')].k"), vec![json!(2)]);
        assert_eq!(eval(".a.list[?(@.v)].k"), vec![json!(1), json!(2)]);
        assert_eq!(eval("a.list[0].k"), vec![json!(1)]);
        assert_eq!(eval(".a.list[5]"), Vec::<Value>::new());
        assert_eq!(eval("..a"), vec![json!("unparsed")]);
        assert_eq!(eval(".a[unclosed"), vec![json!("unparsed")]);
    }

    #[test]
    fn go_number_formatting() {
        assert_eq!(go_fmt_float(0.5), "0.5");
        assert_eq!(go_fmt_float(123_456.5), "123456.5");
        assert_eq!(go_fmt_float(1_234_567.5), "1.2345675e+06");
        assert_eq!(go_fmt_float(0.0001), "0.0001");
        assert_eq!(go_fmt_float(0.00001), "1e-05");
        assert_eq!(go_fmt_float(-2.5), "-2.5");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1_234_567.5), "1234567.5");
        assert_eq!(go_number_text(&Number::from(7)), "7");
    }

    #[test]
    fn nothing_panics_on_malformed_objects() {
        let kinds: &[(&str, &str)] = &[
            ("", "Pod"),
            ("", "PodTemplate"),
            ("", "ReplicationController"),
            ("apps", "ReplicaSet"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ControllerRevision"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("", "Service"),
            ("networking.k8s.io", "Ingress"),
            ("networking.k8s.io", "IngressClass"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("", "Endpoints"),
            ("discovery.k8s.io", "EndpointSlice"),
            ("", "Node"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "Namespace"),
            ("", "Secret"),
            ("", "ServiceAccount"),
            ("", "ConfigMap"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io", "Role"),
            ("policy", "PodDisruptionBudget"),
            ("storage.k8s.io", "StorageClass"),
            ("coordination.k8s.io", "Lease"),
            ("scheduling.k8s.io", "PriorityClass"),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
            ),
            ("apiregistration.k8s.io", "APIService"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Unknown"),
        ];
        let junk = [
            Value::Null,
            json!(1),
            json!("x"),
            json!([1, 2]),
            json!({}),
            json!({"metadata": 5, "spec": [], "status": "x"}),
            json!({
                "metadata": {"name": 3, "creationTimestamp": "9999-99-99T99:99:99Z", "labels": {"k": 1}, "ownerReferences": [{"controller": true, "apiVersion": "a/b/c"}]},
                "spec": {"replicas": -5, "completions": 1e300, "containers": "no", "initContainers": [{"name": "i", "restartPolicy": "Always"}],
                         "ports": [{"port": "x", "nodePort": 18446744073709551615u64}], "selector": {"matchExpressions": [{"operator": "Bogus"}]},
                         "metrics": [{"type": "Object"}, {"type": "External"}, {"type": "ContainerResource"}, {}], "rules": [null, {}]},
                "status": {"initContainerStatuses": [{"name": "i", "started": true, "restartCount": 9223372036854775807i64}, {"restartCount": 9223372036854775807i64}],
                           "containerStatuses": [{"restartCount": 9223372036854775807i64, "lastState": {"terminated": {"finishedAt": "0001-01-01T00:00:00Z"}}}],
                           "loadBalancer": {"ingress": [{}]}, "conditions": [null]},
                "subsets": [{"addresses": [{}], "ports": [{}]}],
                "series": {"count": "x"}
            }),
        ];
        for (group, kind) in kinds {
            for now in [i64::MIN, 0, T0, i64::MAX] {
                let table = to_table(
                    group,
                    kind,
                    &junk,
                    IncludeObject::Metadata,
                    None,
                    json!("bad"),
                    now,
                );
                let rows = table["rows"].as_array().map(Vec::len);
                assert_eq!(rows, Some(junk.len()), "{group}/{kind}");
                let width = table["columnDefinitions"].as_array().map(Vec::len);
                for row in table["rows"].as_array().into_iter().flatten() {
                    assert_eq!(
                        row["cells"].as_array().map(Vec::len),
                        width,
                        "{group}/{kind}"
                    );
                }
            }
        }
        let weird_columns = [
            PrinterColumn {
                name: "A".into(),
                type_: "date".into(),
                json_path: ".metadata.name".into(),
                ..PrinterColumn::default()
            },
            PrinterColumn {
                name: "B".into(),
                type_: "integer".into(),
                json_path: "[?(".into(),
                ..PrinterColumn::default()
            },
            PrinterColumn {
                name: "C".into(),
                type_: "string".into(),
                json_path: ".spec[*]".into(),
                ..PrinterColumn::default()
            },
        ];
        let table = to_table(
            "x",
            "Y",
            &junk,
            IncludeObject::Object,
            Some(&weird_columns),
            json!({}),
            T0,
        );
        assert_eq!(table["rows"].as_array().map(Vec::len), Some(junk.len()));
    }
}
