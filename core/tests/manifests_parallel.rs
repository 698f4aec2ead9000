//! `manifests::load` reads files in parallel; its result must not depend on that: the same
//! objects, `not_evaluated` in file order, and the first broken file (in sorted order) named.

use std::path::Path;

use soc2_core::snapshot::manifests;

fn deployment(name: &str, api_version: &str) -> String {
    format!(
        "---\napiVersion: {api_version}\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/{name}:1.0\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write fixture");
}

#[test]
fn parallel_load_keeps_file_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..9 {
        let mut text = deployment(&format!("app-{i}"), "apps/v1");
        if i % 3 == 1 {
            text.push_str(&deployment(&format!("old-{i}"), "apps/v1beta9"));
        }
        write(dir.path(), &format!("f{i}.yaml"), &text);
    }
    let report = manifests::load(dir.path()).expect("folder loads");
    assert_eq!(report.files, 9);
    assert_eq!(report.objects.deployments.len(), 9);
    let skipped: Vec<String> = report
        .not_evaluated
        .iter()
        .map(|n| {
            format!(
                "{}:{}",
                Path::new(&n.file).file_name().unwrap().to_string_lossy(),
                n.name
            )
        })
        .collect();
    assert_eq!(skipped, ["f1.yaml:old-1", "f4.yaml:old-4", "f7.yaml:old-7"]);

    // The same folder read one file at a time gives the same objects in the same order.
    let mut names = Vec::new();
    for i in 0..9 {
        let one = manifests::load(&dir.path().join(format!("f{i}.yaml"))).expect("file loads");
        names.extend(
            one.objects
                .deployments
                .iter()
                .map(|d| d.metadata.name.clone()),
        );
    }
    let all: Vec<_> = report
        .objects
        .deployments
        .iter()
        .map(|d| d.metadata.name.clone())
        .collect();
    assert_eq!(all, names);
}

#[test]
fn parallel_load_names_the_first_broken_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..8 {
        let text = if i == 2 || i == 6 {
            "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n".to_string()
        } else {
            deployment(&format!("app-{i}"), "apps/v1")
        };
        write(dir.path(), &format!("f{i}.yaml"), &text);
    }
    let err = manifests::load(dir.path()).expect_err("a broken file fails the folder");
    assert!(err.to_string().contains("f2.yaml"), "{err}");
}
