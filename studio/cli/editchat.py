"""`python -m studio editchat ...`: run, list, show and export multi-turn edit sessions headless."""
from __future__ import annotations

import argparse
import json

from studio.cli import CLIError, make_studio


def register(subparsers) -> None:
    p = subparsers.add_parser("editchat", help="multi-turn edit sessions: run, list, show, export")
    sub = p.add_subparsers(dest="editchat_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="start a session from an image and apply instructions in turn")
    run.add_argument("image", help="source image file")
    run.add_argument("instructions", nargs="+", help="one instruction per turn")
    run.add_argument("--backend", default="procedural")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--export", choices=["multi-turn", "triplets"], help="export the branch afterwards")
    run.add_argument("--dataset", default="default")
    ls = sub.add_parser("list", help="your sessions, newest first")
    show = sub.add_parser("show", help="the turn tree of a session")
    show.add_argument("session")
    ex = sub.add_parser("export", help="store a session's branch as samples")
    ex.add_argument("session")
    ex.add_argument("--form", choices=["multi-turn", "triplets"], default="multi-turn")
    ex.add_argument("--dataset", default="default")
    for q in (run, ls, show, ex):
        q.add_argument("--owner", required=True, help="whose sessions these are")
        q.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from backends.base import BackendError
    from studio import editing
    from studio.images import ImageLoadError

    studio = make_studio()
    try:
        if args.editchat_command == "run":
            view, notices = editing.start_from_upload(studio, args.owner, args.image, name=args.image)
            for n in notices:
                print(f"notice: {n}")
            head = None
            params = {"seed": args.seed} if args.seed is not None else {}
            for text in args.instructions:
                out = editing.submit_turn(studio, args.owner, view.id, text, args.backend, shown=head,
                                          params=params)
                t = out.turn
                line = {"turn": t.seq, "instruction": t.instruction, "status": t.status}
                line.update({"output_image": t.output_image, "drift": t.drift} if t.done else {"error": t.error})
                print(json.dumps(line))
                head = t.id
            print(f"session {view.id}")
            if args.export:
                ids = editing.export_branch(studio, args.owner, view.id, form=args.export, dataset=args.dataset)
                print(f"exported {len(ids)} sample(s): {' '.join(ids)}")
        elif args.editchat_command == "list":
            for s in editing.list_sessions(studio, args.owner):
                print(f"{s.id}  {s.label}")
        elif args.editchat_command == "show":
            print("\n".join(editing.get_session(studio, args.owner, args.session).tree_lines()))
        elif args.editchat_command == "export":
            ids = editing.export_branch(studio, args.owner, args.session, form=args.form, dataset=args.dataset)
            print(f"exported {len(ids)} sample(s): {' '.join(ids)}")
    except (editing.EditingError, BackendError, ImageLoadError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    return 0
