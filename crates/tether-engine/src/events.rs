//! Kubernetes Events on the Application, as Argo CD and Flux emit them: syncs,
//! failures, drift and self-heal show in `kubectl describe app` and in any
//! event-based alerting. Best effort: a failed publish is logged, never fatal.

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tether_model::Application;

pub struct Notifier {
    recorder: Recorder,
}

impl Notifier {
    pub fn new(client: kube::Client) -> Notifier {
        let instance = std::env::var("HOSTNAME").ok();
        Notifier {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "tether-agent".into(),
                    instance,
                },
            ),
        }
    }

    pub async fn normal(&self, app: &Application, reason: &str, action: &str, note: String) {
        self.publish(app, EventType::Normal, reason, action, note)
            .await;
    }

    pub async fn warning(&self, app: &Application, reason: &str, action: &str, note: String) {
        self.publish(app, EventType::Warning, reason, action, note)
            .await;
    }

    async fn publish(
        &self,
        app: &Application,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let reference = app.object_ref(&());
        // The API caps an event's note at 1 KiB. Escaped to one line: a note
        // carries commit messages and file names, and `kubectl get events`
        // prints it raw in a table row.
        let note: String = tether_model::text::one_line(&note)
            .chars()
            .take(1000)
            .collect();
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &reference).await {
            tracing::debug!("cannot publish an event: {e}");
        }
    }
}
