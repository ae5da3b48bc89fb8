//! The reloader against a real file on a paused clock: a save in place that leaves the file
//! empty for a while must not be read as "watch nothing"; and which folder events count as a
//! change of the file.

use notify::event::{
    AccessKind, AccessMode, CreateKind, DataChange, EventKind, ModifyKind, RemoveKind, RenameMode,
};

use super::*;

const FLEET: &str = "[[instance]]\nid = 1001\n";

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    reloader: Reloader,
    settings: watch::Receiver<Arc<Settings>>,
    events: mpsc::Receiver<Event>,
}

fn fixture(initial: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, initial).unwrap();
    let start = Settings::from_toml(initial, &path).unwrap();
    let (settings_tx, settings) = watch::channel(Arc::new(start));
    let (events_tx, events) = mpsc::channel(8);
    let prepare_path = path.clone();
    let prepare: Prepare = Arc::new(move |text: &str| {
        Settings::from_toml(text, &prepare_path).map_err(|err| err.to_string())
    });
    let reloader = Reloader {
        path: path.clone(),
        prepare,
        settings: settings_tx,
        events: events_tx,
        last_hash: hash(initial),
    };
    Fixture {
        _dir: dir,
        path,
        reloader,
        settings,
        events,
    }
}

fn ids(settings: &watch::Receiver<Arc<Settings>>) -> Vec<u64> {
    settings.borrow().instances.iter().map(|i| i.id).collect()
}

#[tokio::test(start_paused = true)]
async fn a_save_in_place_that_is_empty_for_a_while_keeps_every_instance() {
    let two = format!("{FLEET}\n[[instance]]\nid = 1002\n");
    let mut f = fixture(FLEET);
    std::fs::write(&f.path, "").unwrap();
    let path = f.path.clone();
    let slow_writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        std::fs::write(&path, two).unwrap();
    });

    f.reloader.check(Trigger::Changed).await;
    slow_writer.await.unwrap();

    assert_eq!(ids(&f.settings), vec![1001, 1002]);
    assert!(f.events.try_recv().is_err(), "nothing to reject or say");
}

#[tokio::test(start_paused = true)]
async fn a_file_left_empty_is_believed_after_the_grace() {
    let mut f = fixture(FLEET);
    std::fs::write(&f.path, "").unwrap();
    let started = tokio::time::Instant::now();

    f.reloader.check(Trigger::Changed).await;

    let waited = started.elapsed();
    assert!(
        waited >= EMPTY_SAVE_GRACE && waited <= EMPTY_SAVE_GRACE + DEBOUNCE,
        "{waited:?}"
    );
    assert_eq!(ids(&f.settings), Vec::<u64>::new());
    assert!(f.events.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_file_with_text_is_read_at_once() {
    let mut f = fixture(FLEET);
    std::fs::write(&f.path, format!("{FLEET}\n[[instance]]\nid = 1003\n")).unwrap();
    let started = tokio::time::Instant::now();

    f.reloader.check(Trigger::Changed).await;

    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(ids(&f.settings), vec![1001, 1003]);
}

fn event(kind: EventKind, file: &str) -> notify::Event {
    notify::Event::new(kind).add_path(PathBuf::from("/fleets").join(file))
}

#[test]
fn reading_the_fleet_file_is_not_a_change() {
    let name = std::ffi::OsStr::new("fleet.toml");
    for kind in [
        EventKind::Access(AccessKind::Open(AccessMode::Any)),
        EventKind::Access(AccessKind::Read),
        EventKind::Access(AccessKind::Close(AccessMode::Read)),
    ] {
        assert!(!changes(&event(kind, "fleet.toml"), name), "{kind:?}");
    }
}

#[test]
fn writing_creating_renaming_or_removing_it_is() {
    let name = std::ffi::OsStr::new("fleet.toml");
    for kind in [
        EventKind::Access(AccessKind::Close(AccessMode::Write)),
        EventKind::Modify(ModifyKind::Data(DataChange::Any)),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)),
        EventKind::Create(CreateKind::File),
        EventKind::Remove(RemoveKind::File),
        EventKind::Any,
    ] {
        assert!(changes(&event(kind, "fleet.toml"), name), "{kind:?}");
        assert!(
            !changes(&event(kind, ".fleet.toml.state.json"), name),
            "{kind:?}"
        );
    }
}
