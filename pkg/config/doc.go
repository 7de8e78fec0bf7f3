// Package config parses Dovecot 2.3's configuration syntax into a tree of
// settings and sections (see ast.go). It knows no setting names: types,
// defaults and validation live in pkg/settings, which walks the tree.
//
// Syntax, following Dovecot 2.3's config-parser.c unless noted:
//
//   - `key = value`: the value runs to the end of the line, trimmed. A value
//     that starts and ends with the same quote (" or ') is unquoted, and a
//     backslash inside it takes the next character literally. `key=value`
//     without spaces works too.
//   - `#` starts a comment anywhere outside quotes; a `#` glued to the text
//     before it is still a comment but gets a warning (Tree.Warnings), as
//     Dovecot warns "Ambiguous '#' character".
//   - A `\` at the end of a line joins the next line with one space. Blank and
//     comment lines inside a continuation are skipped, as in Dovecot.
//   - `type {`, `type name {` open a section, `}` closes it. The name is
//     everything between the type and `{`, or a quoted string. Filter
//     sections (`protocol imap`, `protocol !smtp`, `local 127.0.0.1`,
//     `remote 10.0.0.0/8`, `local_name mail.example.com`) are sections whose
//     name is the filter argument.
//   - Extension over Dovecot (which rejects text after `{`): after a `{` or
//     `}` more statements may follow on the same line, so
//     `service imap-login { inet_listener imaps { port = 993 ssl = yes } }`
//     works. On such a line a value ends before a `}` word, before
//     `name =` (a space before the `=` is required, so `args = a=b c=d`
//     stays one value), before `type [name] {`, or at a closing quote.
//   - `!include PATH` and `!include_try PATH` with glob patterns (and
//     `{a,b}` braces, as Dovecot's GLOB_BRACE), relative to the including
//     file's directory, matches read in sorted order and spliced in place
//     (inside sections too). `!include` of nothing is an error,
//     `!include_try` tolerates it. Each file must close the sections it
//     opens (stricter than Dovecot, which lets a `}` close the includer's).
//   - `key = <PATH`: the value is the file's content verbatim (no trailing
//     newline is removed, as in Dovecot); Node.FromFile records the path.
//   - `$name` as a whole word of an unquoted value is replaced by the value
//     that setting has at that point (the innermost enclosing section that
//     set it, else Options.Default), words rejoined by single spaces, as
//     Dovecot's config_write_keyvariable does. `%` variables are left alone
//     for pkg/settings. Dovecot's `$ENV:name` is not supported (an honest
//     "unknown variable" error) so that parsing never depends on the
//     environment.
//
// Limits (Dovecot has none; these stop hostile or broken input): a logical
// line or value of 1 MiB, a config file of 16 MiB, sections nested 32 deep,
// includes nested 32 deep, 256 brace expansions per include, 100 errors.
//
// Every error is an *Error with file:line, and the setting's key when there
// is one; ParseFile and Parse return them all as an ErrorList and keep going
// after a bad line where they can.
//
// Import rule: this package imports only the standard library; pkg/settings
// imports it, never the other way round.
package config
