/* render.h - JSON documents rendered for people, as the AWS CLI does.
 *
 * The public entry point is bsnap_render() (see blocksnap.h).  It takes the
 * JSON text the describe calls return and produces one of the AWS CLI's
 * three --output forms:
 *
 *  json   the document pretty-printed with a 4-space indent, keys in the
 *         order the document has them, non-ASCII characters kept as UTF-8;
 *
 *  text   awscli/text.py's rules: an object prints one line of its scalar
 *         values, tab-separated, in key order (sorted); inside a list the
 *         line starts with the list's key UPPER-CASED and every element
 *         lists the union of the elements' scalar keys (missing ones
 *         empty); nested lists and objects follow as their own lines, so a
 *         snapshot's tags print as "TAGS\tenv\tprod".  Booleans are "True" /
 *         "False" and null is "None", as Python prints them;
 *
 *  table  awscli/formatter.py's TableFormatter: a boxed section per list or
 *         object, titled with its key, a header row of the sorted scalar
 *         keys, one row per element, nested sections indented by one more
 *         '|' on each side.  bsnap_render_titled() puts the operation's
 *         name ("DescribeSnapshots") on top, as the AWS CLI does.  Column
 *         widths come from the content only (never from the terminal), so
 *         the result is deterministic.
 *
 * Every form ends with a newline, except that an empty document ({}, [],
 * or lists with nothing in them) renders as "" in text and table form, as
 * the AWS CLI prints nothing for it.  The renderer allocates
 * and never prints.
 */
#ifndef BSNAP_RENDER_H
#define BSNAP_RENDER_H

#endif
