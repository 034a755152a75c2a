"""Both sides: list (an nbgrader Exchange class), as the Assignment List extension expects.

``c.ExchangeFactory.list = "emcourse_exchange.listing.HubList"``. The dicts returned
are those of nbgrader's own ExchangeList (``status`` released / fetched / submitted, the
notebooks, and for submissions whether feedback waits in the exchange or was fetched), made
from what the service says: a student sees only their own submissions.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections import defaultdict

from nbgrader.exchange.abc import ExchangeList

from .client import HubExchange


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class HubList(HubExchange, ExchangeList):
    """``nbgrader list`` (released), ``--cached`` (own submissions), ``--inbound`` (all)."""

    def copy_files(self):
        pass

    def _released(self, me):
        aid = self.coursedir.assignment_id
        out = []
        for rel in self.get_json("assignments"):
            if aid and rel["assignment_id"] != aid:
                continue
            info = {"course_id": me["course_id"], "assignment_id": rel["assignment_id"]}
            local = self.local_assignment_dir(rel["assignment_id"])
            if os.path.isdir(local):
                info["status"] = "fetched"
                info["path"] = os.path.abspath(local)
                names = [os.path.basename(p)[:-6] for p in
                         sorted(glob.glob(os.path.join(info["path"], "*.ipynb")))]
            else:
                info["status"] = "released"
                info["path"] = self.url.rstrip("/") + "/api/assignments/" + rel["assignment_id"]
                names = rel["notebooks"]
            info["notebooks"] = [{"notebook_id": n,
                                  "path": os.path.join(info["path"], n + ".ipynb")}
                                 for n in names]
            out.append(info)
        return out

    def _submission_info(self, me, sub):
        aid = sub["assignment_id"]
        local = os.path.abspath(self.local_assignment_dir(aid))
        feedback_dir = os.path.join(local, "feedback", sub["timestamp"])
        info = {"course_id": me["course_id"], "student_id": sub["student_id"],
                "assignment_id": aid, "timestamp": sub["timestamp"], "status": "submitted",
                "path": self.url.rstrip("/") + f"/api/submissions/{aid}/{sub['student_id']}/"
                        f"{sub['stamp']}", "notebooks": []}
        for nb in sub["notebooks"]:
            html = nb + ".html"
            local_html = os.path.join(feedback_dir, html)
            has_local = os.path.isfile(local_html)
            has_exchange = html in sub["feedback"]
            info["notebooks"].append({
                "notebook_id": nb, "path": os.path.join(info["path"], nb + ".ipynb"),
                "has_local_feedback": has_local, "has_exchange_feedback": has_exchange,
                "local_feedback_path": local_html if has_local else None,
                "feedback_updated": bool(has_local and has_exchange and
                                         _sha256(local_html) != sub["feedback"][html])})
        nbs = info["notebooks"]
        info["has_local_feedback"] = bool(nbs) and all(n["has_local_feedback"] for n in nbs)
        info["has_exchange_feedback"] = bool(nbs) and all(n["has_exchange_feedback"]
                                                          for n in nbs)
        info["feedback_updated"] = any(n["feedback_updated"] for n in nbs)
        info["local_feedback_path"] = feedback_dir if info["has_local_feedback"] else None
        return info

    def _submitted(self, me):
        student = self.coursedir.student_id
        params = {"student": student} if student not in ("", "*") else {}
        if self.cached or not me["instructor"]:
            params = {"student": me["name"]}
        aids = ([self.coursedir.assignment_id] if self.coursedir.assignment_id else
                [a["assignment_id"] for a in self.get_json("assignments")])
        groups = defaultdict(list)
        for aid in aids:
            for sub in self.get_json(f"submissions/{aid}", **params):
                sub["assignment_id"] = aid
                groups[(sub["student_id"], aid)].append(self._submission_info(me, sub))
        return [{"course_id": me["course_id"], "student_id": sid, "assignment_id": aid,
                 "status": "submitted",
                 "submissions": sorted(subs, key=lambda s: s["timestamp"])}
                for (sid, aid), subs in sorted(groups.items())]

    def list_files(self):
        me = self.whoami()
        if self.inbound or self.cached:
            out = self._submitted(me)
            self.log.info("Submitted assignments:")
            for group in out:
                for info in group["submissions"]:
                    state = ("feedback already fetched" if info["has_local_feedback"]
                             and not info["feedback_updated"] else
                             "feedback ready to be fetched" if info["has_exchange_feedback"]
                             else "no feedback available")
                    self.log.info("%s %s %s %s (%s)", info["course_id"], info["student_id"],
                                  info["assignment_id"], info["timestamp"], state)
            return out
        out = self._released(me)
        self.log.info("Released assignments:")
        for info in out:
            self.log.info("%s %s%s", info["course_id"], info["assignment_id"],
                          " (already downloaded)" if info["status"] == "fetched" else "")
        return out

    def remove_files(self):
        if self.inbound or self.cached:
            self.fail("The hub exchange keeps every submission: --remove works on releases "
                      "only")
        me = self.whoami()
        out = self._released(me)
        for info in out:
            self.request("DELETE", f"assignments/{info['assignment_id']}")
            info["status"] = "removed"
            self.log.info("Removed the release of %s %s", info["course_id"],
                          info["assignment_id"])
        return out
