//! Docker's rules for filling a container's config from its image's config at create time.
//!
//! The request wins wherever it sets a value; maps and sets are merged. The one subtle rule
//! is the command: an `Entrypoint` in the request drops the image's `Cmd` (unless the request
//! sets `Cmd` too), and the image's `Entrypoint` is only inherited when the request does not
//! mention one at all (`--entrypoint ""` sends `[""]`, which resets it).

use super::types::{ContainerConfig, Healthcheck, ImageConfig};
use super::SpecError;

/// The container config Docker would store for `user` created from an image with `image`.
/// Fails with `no command specified` when neither gives a command.
pub fn merge(user: &ContainerConfig, image: &ImageConfig) -> Result<ContainerConfig, SpecError> {
    let mut c = user.clone();
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    for (port, v) in &image.exposed_ports {
        c.exposed_ports
            .entry(port.clone())
            .or_insert_with(|| v.clone());
    }
    c.env = merge_env(&c.env, &image.env);
    for (k, v) in &image.labels {
        c.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    merge_command(&mut c, image);
    c.healthcheck = merge_healthcheck(c.healthcheck.take(), image.healthcheck.as_ref());
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    for (path, v) in &image.volumes {
        c.volumes.entry(path.clone()).or_insert_with(|| v.clone());
    }
    if c.stop_signal.is_empty() {
        c.stop_signal = image.stop_signal.clone();
    }
    if c.shell.is_empty() {
        c.shell = image.shell.clone();
    }
    if command(&c).is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(c)
}

/// The process's argv from a merged config: the entrypoint then the command. An entrypoint
/// of `[""]` (`--entrypoint ""`) counts as none.
pub fn command(c: &ContainerConfig) -> Vec<String> {
    let entrypoint: &[String] = match c.entrypoint.as_deref() {
        Some([only]) if only.is_empty() => &[],
        Some(e) => e,
        None => &[],
    };
    let mut args: Vec<String> = entrypoint.to_vec();
    args.extend(c.cmd.iter().flatten().cloned());
    args
}

fn merge_command(c: &mut ContainerConfig, image: &ImageConfig) {
    if c.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if c.cmd.as_ref().is_none_or(|cmd| cmd.is_empty()) {
            c.cmd = image.cmd.clone();
            c.args_escaped = image.args_escaped;
        }
        if c.entrypoint.is_none() {
            c.entrypoint = image.entrypoint.clone();
        }
    }
}

/// The name of an environment entry: `A=1` → `A`, `A` → `A`.
pub fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// The request's entries first, then the image's entries whose names it does not set.
fn merge_env(user: &[String], image: &[String]) -> Vec<String> {
    let mut env = user.to_vec();
    for entry in image {
        if !user.iter().any(|u| env_key(u) == env_key(entry)) {
            env.push(entry.clone());
        }
    }
    env
}

fn merge_healthcheck(
    user: Option<Healthcheck>,
    image: Option<&Healthcheck>,
) -> Option<Healthcheck> {
    let Some(image) = image else {
        return user;
    };
    let Some(mut h) = user else {
        return Some(image.clone());
    };
    if h.test.is_empty() {
        h.test = image.test.clone();
    }
    for (mine, theirs) in [
        (&mut h.interval, image.interval),
        (&mut h.timeout, image.timeout),
        (&mut h.start_period, image.start_period),
        (&mut h.start_interval, image.start_interval),
        (&mut h.retries, image.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: strs(&["/entry.sh"]),
            cmd: strs(&["serve", "--port", "80"]),
            env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C".into()],
            working_dir: "/app".into(),
            user: "app".into(),
            stop_signal: "SIGQUIT".into(),
            labels: [
                ("a".to_string(), "image".to_string()),
                ("b".into(), "image".into()),
            ]
            .into(),
            exposed_ports: [("80/tcp".to_string(), Default::default())].into(),
            volumes: [("/data".to_string(), Default::default())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn nothing_in_the_request_takes_everything_from_the_image() {
        let c = merge(&ContainerConfig::default(), &image()).unwrap();
        assert_eq!(command(&c), ["/entry.sh", "serve", "--port", "80"]);
        assert_eq!(c.working_dir, "/app");
        assert_eq!(c.user, "app");
        assert_eq!(c.stop_signal, "SIGQUIT");
        assert_eq!(c.env, ["PATH=/usr/bin:/bin", "LANG=C"]);
    }

    #[test]
    fn request_cmd_replaces_image_cmd_but_keeps_entrypoint() {
        let user = ContainerConfig {
            cmd: strs(&["migrate"]),
            ..Default::default()
        };
        assert_eq!(
            command(&merge(&user, &image()).unwrap()),
            ["/entry.sh", "migrate"]
        );
    }

    #[test]
    fn request_entrypoint_drops_image_cmd() {
        let user = ContainerConfig {
            entrypoint: strs(&["/bin/sh"]),
            ..Default::default()
        };
        assert_eq!(command(&merge(&user, &image()).unwrap()), ["/bin/sh"]);
        let user = ContainerConfig {
            entrypoint: strs(&["/bin/sh"]),
            cmd: strs(&["-c", "true"]),
            ..Default::default()
        };
        assert_eq!(
            command(&merge(&user, &image()).unwrap()),
            ["/bin/sh", "-c", "true"]
        );
    }

    #[test]
    fn empty_entrypoint_resets_it_and_uses_the_cmd() {
        let user = ContainerConfig {
            entrypoint: strs(&[""]),
            cmd: strs(&["ls"]),
            ..Default::default()
        };
        assert_eq!(command(&merge(&user, &image()).unwrap()), ["ls"]);
        let user = ContainerConfig {
            entrypoint: Some(vec![]),
            ..Default::default()
        };
        // `[]` is "not set" for the Cmd rule but still stops the image's entrypoint.
        assert_eq!(
            command(&merge(&user, &image()).unwrap()),
            ["serve", "--port", "80"]
        );
    }

    #[test]
    fn no_command_anywhere_is_docker_s_error() {
        let e = merge(&ContainerConfig::default(), &ImageConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "no command specified");
        let user = ContainerConfig {
            entrypoint: strs(&[""]),
            ..Default::default()
        };
        assert!(matches!(merge(&user, &image()), Err(SpecError::NoCommand)));
    }

    #[test]
    fn env_merges_by_key_with_the_request_winning() {
        let user = ContainerConfig {
            env: vec!["LANG=en_US.UTF-8".into(), "A=1".into()],
            ..Default::default()
        };
        let c = merge(&user, &image()).unwrap();
        assert_eq!(c.env, ["LANG=en_US.UTF-8", "A=1", "PATH=/usr/bin:/bin"]);
    }

    #[test]
    fn labels_ports_and_volumes_are_unions_with_the_request_winning() {
        let user = ContainerConfig {
            labels: [("a".to_string(), "user".to_string())].into(),
            exposed_ports: [("443/tcp".to_string(), Default::default())].into(),
            volumes: [("/logs".to_string(), Default::default())].into(),
            ..Default::default()
        };
        let c = merge(&user, &image()).unwrap();
        assert_eq!(c.labels["a"], "user");
        assert_eq!(c.labels["b"], "image");
        assert_eq!(c.exposed_ports.len(), 2);
        assert_eq!(c.volumes.keys().collect::<Vec<_>>(), ["/data", "/logs"]);
    }

    #[test]
    fn request_values_win_over_image_values() {
        let user = ContainerConfig {
            user: "1000:1000".into(),
            working_dir: "/tmp".into(),
            stop_signal: "SIGTERM".into(),
            ..Default::default()
        };
        let c = merge(&user, &image()).unwrap();
        assert_eq!(
            (c.user.as_str(), c.working_dir.as_str()),
            ("1000:1000", "/tmp")
        );
        assert_eq!(c.stop_signal, "SIGTERM");
    }

    #[test]
    fn healthcheck_fields_inherit_one_by_one() {
        let mut img = image();
        img.healthcheck = Some(Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 5,
            timeout: 6,
            retries: 3,
            ..Default::default()
        });
        let user = ContainerConfig {
            healthcheck: Some(Healthcheck {
                interval: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let h = merge(&user, &img).unwrap().healthcheck.unwrap();
        assert_eq!(h.test, ["CMD", "true"]);
        assert_eq!((h.interval, h.timeout, h.retries), (1, 6, 3));
    }
}
