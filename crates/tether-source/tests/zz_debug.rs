mod support;
use std::time::Duration;
use support::git_http::GitHttpServer;
use support::repo::TestRepo;
use tether_source::{Auth, Sources};
#[tokio::test]
async fn show() {
    let root = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(root.path(), "app.git");
    repo.write("a", "b"); repo.commit("x");
    let server = GitHttpServer::start(root.path(), Some(("u","p")));
    let cache = tempfile::tempdir().unwrap();
    let s = Sources::new(cache.path());
    for (url, auth) in [("file:///nonexistent/repo".to_string(), None), ("http://127.0.0.1:1/x".into(), None), (server.url("app.git"), None),
        (server.url("app.git"), Some(Auth::Basic{username:"u".into(), password:"bad".into()})),
        (server.url("nope.git"), Some(Auth::Basic{username:"u".into(), password:"p".into()})),
        ("ssh://git@127.0.0.1:1/x.git".into(), Some(Auth::SshKey{private_key:"bogus".into(), known_hosts:None})),
        ("git@127.0.0.1:x.git".into(), None),
        ] {
        let e = s.fetcher(&url, auth).resolve(Some("nope"), Duration::ZERO).await.unwrap_err();
        eprintln!("{e:?}\n  => {e}\n");
    }
    let f = s.fetcher(&server.url("app.git"), Some(Auth::Basic{username:"u".into(), password:"p".into()}));
    let e = f.resolve(Some("nope"), Duration::ZERO).await.unwrap_err();
    eprintln!("{e}");
    eprintln!("{:?}", std::fs::read_dir(cache.path().join("repos")).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>());
}
