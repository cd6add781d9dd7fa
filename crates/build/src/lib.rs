//! tug's builder: Dockerfiles to images.
//!
//! Layers of this crate, bottom up: [`syntax`] (directives, comments, continuations,
//! heredocs, flags, JSON form; errors with file, line and column), [`shell`] (quotes and
//! variable substitution with every modifier), [`instructions`] (validation into stages and
//! build checks), [`ignore`] (`.dockerignore`), and [`builder`], which runs a program: base
//! images from [`image::ImageService`], RUN steps in containers through tug's runtime on
//! overlay snapshots, COPY/ADD from the context, a content-addressed step cache, and the image
//! config and history Docker writes.

pub mod builder;
pub mod context;
pub mod ignore;
pub mod instructions;
pub mod shell;
pub mod syntax;

pub use builder::{BuildError, BuildOptions, Builder, Event};
