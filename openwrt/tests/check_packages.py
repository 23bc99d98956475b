#!/usr/bin/env python3
"""openwrt/tests/check_packages.py — reads the OpenWrt packages back and checks them.

.ipk: outer gzip'd GNU tar with ./debian-binary, ./data.tar.gz, ./control.tar.gz in that order;
control fields in ipkg-build's order and values (Version X.Y.Z-rN, Architecture = file name,
Depends, Require-User, Installed-Size = uncompressed data tar size, Description continuation
lines); conffiles; postinst/prerm calling default_postinst/default_prerm; data tar in
`tar --sort=name` order, owners 0:0, modes; the binary is an ELF of the right machine, linked
as OpenWrt links its packages (interpreter /lib/ld-musl-<arch>.so.1, NEEDED libc.so and
libpcap.so.1, hence Depends: libc, libpcap1) or, for a static build, with no interpreter and
Depends: libc; the page only pre-compressed (FILE.gz, no FILE).
.apk: APKv3 read with openwrt/tools/apkv3.py (data blocks vs. sha256, unique id), info fields,
scripts, the /lib/apk/packages/<pkg>.{list,conffiles,conffiles_static,rusers} files, and the same
files/modes/contents as the .ipk.

usage: check_packages.py DIST [ARCH...]     (also: --geodb DIST / --luci DIST for the
       connmap-geodb / luci-app-connmap package alone)
Prints "ok ..."/"FAIL ..." lines and "N passed, N failed"; exit status 1 on failure.
"""
import gzip
import hashlib
import io
import os
import re
import struct
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import apkv3  # noqa: E402

IPK_FIELDS = ["Package", "Version", "Depends", "Conflicts", "Provides", "Alternatives", "Source",
              "SourceName", "License", "LicenseFiles", "Section", "Require-User",
              "SourceDateEpoch", "URL", "ABIVersion", "CPE-ID", "Maintainer", "Architecture",
              "Installed-Size", "Description"]
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+-r\d+$")
# OpenWrt arch -> (ELF e_machine, EI_DATA 1=little 2=big, EI_CLASS 1=32 2=64)
ELF = {"mipsel_24kc": (8, 1, 1), "mips_24kc": (8, 2, 1), "arm_cortex-a7_neon-vfpv4": (40, 1, 1),
       "aarch64_cortex-a53": (183, 1, 2), "x86_64": (62, 1, 2)}
SIZE_GOAL = {"mipsel_24kc": 400 * 1024}  # the connmap package as a file, bytes
# musl's loader names (`ld-musl-$(ARCH)$(SUBARCH).so.1`, as OpenWrt installs musl)
LOADER = {"mipsel_24kc": "/lib/ld-musl-mipsel-sf.so.1", "mips_24kc": "/lib/ld-musl-mips-sf.so.1",
          "arm_cortex-a7_neon-vfpv4": "/lib/ld-musl-armhf.so.1",
          "aarch64_cortex-a53": "/lib/ld-musl-aarch64.so.1", "x86_64": "/lib/ld-musl-x86_64.so.1"}
DYNAMIC_DEPENDS = "libc, libpcap1"

EXPECT = {
    "connmap": {
        "depends": DYNAMIC_DEPENDS, "section": "net", "user": "connmap:connmap",
        "files": {"./usr/sbin/connmap": 0o755, "./etc/init.d/connmap": 0o755,
                  "./etc/config/connmap": 0o600, "./etc/capabilities/connmap.json": 0o644,
                  "./etc/capabilities/connmap-conntrack.json": 0o644,
                  # alerts: the example hook ships disabled (not executable); ubusd's ACL
                  "./etc/connmap/alert.d/ntfy.example": 0o644,
                  "./usr/share/acl.d/connmap.json": 0o644},
        "dirs": ["./usr/share/connmap/www", "./etc/connmap/alert.d"],
        "conffiles": ["/etc/config/connmap"],
    },
    "luci-app-connmap": {
        "depends": "libc, luci-base, connmap", "section": "luci", "user": None,
        "files": {"./www/luci-static/resources/view/connmap/map.js": 0o644,
                  "./www/luci-static/resources/view/connmap/config.js": 0o644,
                  "./www/luci-static/resources/connmap/index.html": 0o644,
                  "./usr/share/luci/menu.d/luci-app-connmap.json": 0o644,
                  "./usr/share/rpcd/acl.d/luci-app-connmap.json": 0o644},
        "dirs": [], "conffiles": [],
    },
    "connmap-geodb": {
        "depends": "libc", "section": "net", "user": None,
        "files": {"./usr/share/connmap/geo.mmdb": 0o644,
                  "./usr/share/connmap/geo.LICENSE.txt": 0o644}, "dirs": [], "conffiles": [],
    },
}


class Checker:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok   pkg: " + name)
        else:
            self.failed += 1
            print("FAIL pkg: " + name + (": " + detail if detail else ""))
        return cond


def tar_order_ok(members):
    """True when members are in the order GNU tar --sort=name writes a tree: each directory,
    then its entries sorted by name, depth first."""
    names = [m.name.rstrip("/") for m in members]
    isdir = {m.name.rstrip("/"): m.isdir() for m in members}
    children = {}
    for n in names:
        if n == ".":
            continue
        children.setdefault(n.rsplit("/", 1)[0], []).append(n)
    out = ["."] if "." in names else []

    def walk(d):
        for n in sorted(children.get(d, []), key=lambda x: x.rsplit("/", 1)[1].encode()):
            out.append(n)
            if isdir[n]:
                walk(n)
    walk(".")
    return out == names


def tar_members(data):
    tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    return tf, tf.getmembers()


def elf_info(b):
    """(machine, endianness, class, interpreter or None, [NEEDED...]) from the program headers
    only (the binaries are sstripped: no section headers)."""
    if b[:4] != b"\x7fELF":
        return None
    cls, endian = b[4], b[5]
    fmt = "<" if endian == 1 else ">"
    machine = struct.unpack_from(fmt + "H", b, 18)[0]
    if cls == 1:
        phoff, = struct.unpack_from(fmt + "I", b, 28)
        phentsize, phnum = struct.unpack_from(fmt + "HH", b, 42)
        ph = "IIIIIIII"  # type offset vaddr paddr filesz memsz flags align
        dyn, word = fmt + "ii", 8
    else:
        phoff, = struct.unpack_from(fmt + "Q", b, 32)
        phentsize, phnum = struct.unpack_from(fmt + "HH", b, 54)
        ph = "IIQQQQQQ"  # type flags offset vaddr paddr filesz memsz align
        dyn, word = fmt + "qq", 16
    segs = []
    for i in range(phnum):
        f = struct.unpack_from(fmt + ph, b, phoff + i * phentsize)
        if cls == 1:
            typ, off, vaddr, filesz = f[0], f[1], f[2], f[4]
        else:
            typ, off, vaddr, filesz = f[0], f[2], f[3], f[5]
        segs.append((typ, off, vaddr, filesz))
    interp, needed = None, []
    for typ, off, _, filesz in segs:
        if typ == 3:  # PT_INTERP
            interp = b[off:off + filesz].split(b"\0")[0].decode()
    for typ, off, _, filesz in segs:
        if typ != 2:  # PT_DYNAMIC
            continue
        entries = []
        for j in range(0, filesz, word):
            tag, val = struct.unpack_from(dyn, b, off + j)
            if tag == 0:
                break
            entries.append((tag, val))
        strtab = next((v for t, v in entries if t == 5), None)  # DT_STRTAB (an address)
        base = next((o + strtab - va for t, o, va, sz in segs
                     if t == 1 and strtab is not None and va <= strtab < va + sz), None)
        if base is not None:
            for t, v in entries:
                if t == 1:  # DT_NEEDED
                    needed.append(b[base + v:b.index(b"\0", base + v)].decode())
    return machine, endian, cls, interp, needed


def check_ipk(c, path, pkg, arch):
    base = os.path.basename(path)
    raw = open(path, "rb").read()
    c.check(base + ": outer file is gzip (not ar)", raw[:2] == b"\x1f\x8b", repr(raw[:8]))
    outer = gzip.decompress(raw)
    tf, members = tar_members(outer)
    names = [m.name for m in members]
    c.check(base + ": members debian-binary, data.tar.gz, control.tar.gz in order",
            names == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"], str(names))
    c.check(base + ": GNU tar format, owners 0:0",
            all(m.uid == 0 and m.gid == 0 for m in members) and
            b"ustar  \0" in outer[257:265], "")
    c.check(base + ": debian-binary is 2.0",
            tf.extractfile("./debian-binary").read() == b"2.0\n")
    data_gz = tf.extractfile("./data.tar.gz").read()
    ctrl_gz = tf.extractfile("./control.tar.gz").read()
    data = gzip.decompress(data_gz)
    ctf, cmembers = tar_members(gzip.decompress(ctrl_gz))
    cnames = [m.name for m in cmembers]
    c.check(base + ": control.tar in name order", tar_order_ok(cmembers), str(cnames))
    control = ctf.extractfile("./control").read().decode()
    fields, order = {}, []
    last = None
    for line in control.rstrip("\n").split("\n"):
        if line.startswith(" "):
            fields[last] += "\n" + line
            continue
        k, _, v = line.partition(": ")
        fields[k] = v
        order.append(k)
        last = k
    c.check(base + ": control fields in ipkg-build order",
            order == [f for f in IPK_FIELDS if f in fields], str(order))
    exp = EXPECT[pkg]
    c.check(base + ": Package", fields.get("Package") == pkg, fields.get("Package"))
    c.check(base + ": Version X.Y.Z-rN", bool(VERSION_RE.match(fields.get("Version", ""))),
            fields.get("Version"))
    c.check(base + ": Architecture %s" % arch, fields.get("Architecture") == arch,
            fields.get("Architecture"))
    c.check(base + ": file name <Package>_<Version>_<Architecture>.ipk",
            base == "%s_%s_%s.ipk" % (pkg, fields.get("Version"), fields.get("Architecture")))
    depends = exp["depends"]
    if pkg == "connmap":
        # a static build (CONNMAP_LINK=static) needs nothing but the libc package
        dtf0, _ = tar_members(data)
        if elf_info(dtf0.extractfile("./usr/sbin/connmap").read())[3] is None:
            depends = "libc"
    c.check(base + ": Depends %s" % depends, fields.get("Depends") == depends,
            fields.get("Depends"))
    c.check(base + ": Section %s" % exp["section"], fields.get("Section") == exp["section"])
    c.check(base + ": Require-User %s" % exp["user"], fields.get("Require-User") == exp["user"],
            fields.get("Require-User"))
    c.check(base + ": Installed-Size = uncompressed data tar (%d)" % len(data),
            fields.get("Installed-Size") == str(len(data)), fields.get("Installed-Size"))
    c.check(base + ": Description begins with one space after the colon and continues with one",
            control.count("Description:  ") == 1 and
            all(ln.startswith(" ") and not ln.startswith("  ")
                for ln in fields["Description"].split("\n")[1:]))
    c.check(base + ": SourceDateEpoch / License / Maintainer / URL present",
            all(k in fields for k in ("SourceDateEpoch", "License", "Maintainer", "URL")))
    conff = ctf.extractfile("./conffiles").read().decode().split() if "./conffiles" in cnames else []
    c.check(base + ": conffiles %s" % exp["conffiles"], conff == exp["conffiles"], str(conff))
    post = ctf.extractfile("./postinst").read().decode()
    prerm = ctf.extractfile("./prerm").read().decode()
    cm = {m.name: m for m in cmembers}
    c.check(base + ": postinst = OpenWrt's generic one (IPKG_NO_SCRIPT, default_postinst)",
            post.startswith("#!/bin/sh\n") and 'IPKG_NO_SCRIPT' in post and
            "default_postinst $0 $@" in post and cm["./postinst"].mode == 0o755)
    c.check(base + ": prerm = OpenWrt's generic one (default_prerm)",
            "default_prerm $0 $@" in prerm and cm["./prerm"].mode == 0o755)
    pp = ctf.extractfile("./postinst-pkg").read().decode() if "./postinst-pkg" in cnames else ""
    if pkg == "connmap":
        # Require-User makes default_postinst create the user, before it starts the service;
        # connmap's own postinst-pkg only has ubusd read the new ACL (no service started)
        body = [ln for ln in pp.splitlines() if ln.strip() and not ln.startswith("#")]
        c.check(base + ": postinst-pkg only signals ubusd (the user comes from Require-User alone)",
                body == ['[ -n "${IPKG_INSTROOT}" ] || killall -HUP ubusd 2>/dev/null', "exit 0"], pp)
    elif pkg == "connmap-geodb":
        # installed in one go with connmap, it may be configured first: restarting then would
        # start the service before its user exists (chown: unknown user, ubus ... Not found)
        c.check(base + ": postinst-pkg restarts connmap only when it is running",
                "/etc/init.d/connmap running" in pp and "/etc/init.d/connmap restart" in pp and
                pp.index("running") < pp.index("restart"), pp)
    elif pkg == "luci-app-connmap":
        c.check(base + ": postinst-pkg clears LuCI's caches, reloads rpcd (ACL) and a running connmap",
                "luci-indexcache" in pp and "luci-modulecache" in pp and "rpcd reload" in pp and
                "/etc/init.d/connmap running" in pp and "/etc/init.d/connmap reload" in pp, pp)
    dtf, dmembers = tar_members(data)
    dnames = [m.name for m in dmembers]
    c.check(base + ": data.tar in `tar --sort=name` order", tar_order_ok(dmembers), str(dnames))
    c.check(base + ": data.tar owners 0:0, numeric", all(m.uid == 0 and m.gid == 0 and m.uname == ""
                                                        for m in dmembers))
    dm = {m.name.rstrip("/"): m for m in dmembers}
    for f, mode in exp["files"].items():
        m = dm.get(f)
        c.check(base + ": %s mode %o" % (f, mode), m is not None and m.isfile() and m.mode == mode,
                "missing" if m is None else "%o" % m.mode)
    for d in exp["dirs"]:
        c.check(base + ": directory %s" % d, d in dm and dm[d].isdir())
    c.check(base + ": directories are 0755", all(m.mode == 0o755 for m in dmembers if m.isdir()))
    if pkg == "connmap":
        b = dtf.extractfile("./usr/sbin/connmap").read()
        info = elf_info(b)
        m, e, cl = ELF[arch]
        c.check(base + ": /usr/sbin/connmap is an ELF for %s" % arch,
                info is not None and info[:3] == (m, e, cl), str(info))
        if info is not None and info[3] is not None:
            c.check(base + ": interpreter %s, NEEDED libc.so + libpcap.so.1" % LOADER[arch],
                    info[3] == LOADER[arch] and sorted(info[4]) == ["libc.so", "libpcap.so.1"],
                    str(info[3:]))
        else:
            c.check(base + ": static: no NEEDED", info is not None and not info[4], str(info))
        www = sorted(n for n in dm if n.startswith("./usr/share/connmap/www/") and dm[n].isfile())
        c.check(base + ": the page only pre-compressed (index.html.gz; no FILE beside FILE.gz)",
                "./usr/share/connmap/www/index.html.gz" in www and
                not any(n + ".gz" in dm for n in www), str(www))
        if arch in SIZE_GOAL:
            # a goal, reported, not a failure: the size is mostly the daemon's code and the page
            print("%s pkg: %s: package %d bytes, goal <= %d" % (
                "note" if len(raw) <= SIZE_GOAL[arch] else "WARN", base, len(raw), SIZE_GOAL[arch]))
    files = {m.name[1:]: (m.mode, dtf.extractfile(m).read()) for m in dmembers if m.isfile()}
    check_defaults(c, base, pkg, files)
    return fields, files


def defaults_table():
    """src/defaults.conf, the one source of the defaults: {name: value}."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "defaults.conf")
    rows = (line.split() for line in open(path) if line.strip() and not line.lstrip().startswith("#"))
    return {r[0]: r[2] for r in rows}


def check_defaults(c, base, pkg, files):
    """The installed UCI file, init script and LuCI views carry the table's defaults, their
    marks filled (scripts/fill-defaults.sh at package build), none left."""
    table = defaults_table()
    texts = {"connmap": ["/etc/config/connmap", "/etc/init.d/connmap"],
             "luci-app-connmap": ["/www/luci-static/resources/view/connmap/config.js",
                                  "/www/luci-static/resources/view/connmap/map.js"]}.get(pkg, [])
    for f in texts:
        t = files.get(f, (0, b""))[1].decode()
        left = re.findall(r"@[a-z_]+@", t)
        c.check(base + ": %s has its defaults filled in, no mark left" % f, t and not left, str(left))
    if pkg == "connmap":
        uci = files.get("/etc/config/connmap", (0, b""))[1].decode()
        init = files.get("/etc/init.d/connmap", (0, b""))[1].decode()
        got = dict(re.findall(r"^\s*option (\w+) '([^']*)'", uci, re.M))
        wrong = {k: v for k, v in got.items() if k in table and table[k] != v}
        c.check(base + ": /etc/config/connmap: %d options with the table's default values" %
                sum(k in table for k in got), len(got) > 30 and not wrong, str(wrong))
        # ('' fallbacks pass no flag: the daemon's default, the same table's, applies)
        fb = dict(re.findall(r"config_get(?:_bool)? \w+ main (\w+) (\S+)$", init, re.M))
        fb = {k: v for k, v in fb.items() if v != "''"}
        wrong = {k: v for k, v in fb.items() if k in table and table[k] != v}
        c.check(base + ": init script: %d fallbacks, the table's" % sum(k in table for k in fb),
                fb.get("port") == table["port"] and not wrong, str(wrong))
    if pkg == "luci-app-connmap":
        js = files.get("/www/luci-static/resources/view/connmap/config.js", (0, b""))[1].decode()
        c.check(base + ": config.js: placeholders of the table (port %s, max_remotes %s)" % (
            table["port"], table["max_remotes"]),
            "'port', '%s')" % table["port"] in js and "'%s')" % table["max_remotes"] in js)


def check_apk(c, path, pkg, arch, ipk_fields, ipk_files):
    base = os.path.basename(path)
    try:
        d = apkv3.dump(path)
    except Exception as e:  # noqa: BLE001
        c.check(base + ": readable APKv3", False, repr(e))
        return
    c.check(base + ": readable APKv3, deflate-compressed (ADBd)", d["compression"] == "ADBd")
    c.check(base + ": blocks ADB then DATA, hashes and unique-id consistent",
            d["blocks"][0] == 0 and set(d["blocks"][1:]) <= {2} and not d["problems"],
            "; ".join(d["problems"]))
    info = d["package"]["info"]
    exp_arch = "noarch" if arch == "all" else arch
    c.check(base + ": name/version/arch", (info.get("name"), info.get("version"), info.get("arch"))
            == (pkg, ipk_fields["Version"], exp_arch), str(info))
    c.check(base + ": file name <name>-<version>.apk", base == "%s-%s.apk" % (pkg, info.get("version")))
    deps = [x["name"] for x in info.get("depends", [])]
    c.check(base + ": depends", deps == sorted(x.strip() for x in ipk_fields["Depends"].split(",")),
            str(deps))
    c.check(base + ": license/origin/url/maintainer/description",
            all(info.get(k) for k in ("license", "origin", "url", "maintainer", "description")))
    sc = d["package"].get("scripts", {})
    c.check(base + ": post-install = add_group_and_user + default_postinst (+ postinst-pkg)",
            "add_group_and_user" in sc.get("post-install", "") and
            "default_postinst" in sc.get("post-install", "") and
            'export pkgname="%s"' % pkg in sc.get("post-install", ""))
    c.check(base + ": post-upgrade sets PKG_UPGRADE=1", sc.get("post-upgrade", "").startswith(
        "#!/bin/sh\nexport PKG_UPGRADE=1\n"))
    c.check(base + ": pre-deinstall = default_prerm", "default_prerm" in sc.get("pre-deinstall", ""))
    files = {}
    for p in d["package"]["paths"]:
        dname = p.get("name", "")
        if p["acl"]["mode"] != 0o755:
            c.check(base + ": dir %s mode 0755" % dname, False, oct(p["acl"]["mode"]))
        for f in p.get("files", []):
            files["/" + "/".join(x for x in (dname, f["name"]) if x)] = f
    meta = "/lib/apk/packages/%s." % pkg
    c.check(base + ": owners root:root", all(f["acl"]["user"] == "root" and f["acl"]["group"] == "root"
                                               for f in files.values()))
    for name, (mode, content) in ipk_files.items():
        f = files.get(name)
        ok = f is not None and f["acl"]["mode"] == mode and f.get("size", 0) == len(content) and \
            (not content or f.get("hash") == hashlib.sha256(content).hexdigest())
        if not ok:
            c.check(base + ": %s as in the .ipk" % name, False, str(f))
    extra = sorted(n for n in files if n not in ipk_files and not n.startswith(meta))
    c.check(base + ": same files, modes and contents as the .ipk (%d files)" % len(ipk_files),
            not extra and all(n in files for n in ipk_files), str(extra))
    # the package-pack.mk metadata files; read their contents from the data blocks
    raw, blocks = apkv3.read_apk(path)
    paths = d["package"]["paths"]
    contents = {}
    for bt, payload in blocks[1:]:
        pi, fi = struct.unpack_from("<II", payload, 0)
        p = paths[pi - 1]
        contents["/" + "/".join(x for x in (p.get("name", ""), p["files"][fi - 1]["name"]) if x)] = payload[8:]
    lst = contents.get(meta + "list", b"").decode().split()
    want_list = sorted(n for n in files if not n.startswith(meta) or n.endswith(".rusers"))
    c.check(base + ": %slist lists the package's files" % meta, lst == want_list, str(lst))
    exp = EXPECT[pkg]
    if exp["conffiles"]:
        c.check(base + ": %sconffiles" % meta,
                contents.get(meta + "conffiles", b"").decode().split() == exp["conffiles"])
        static = contents.get(meta + "conffiles_static", b"").decode().split()
        want = []
        for cf in exp["conffiles"]:
            want += [cf, hashlib.sha256(ipk_files[cf][1]).hexdigest()]
        c.check(base + ": %sconffiles_static = path + sha256" % meta, static == want, str(static))
    if exp["user"]:
        c.check(base + ": %srusers = %s" % (meta, exp["user"]),
                contents.get(meta + "rusers", b"").decode().strip() == exp["user"])


def main(argv):
    c = Checker()
    if len(argv) >= 3 and argv[1] == "--geodb":
        dist = argv[2]
        pkgs = [("connmap-geodb", "all")]
    elif len(argv) >= 3 and argv[1] == "--luci":
        dist = argv[2]
        pkgs = [("luci-app-connmap", "all")]
    else:
        dist = argv[1]
        arches = argv[2:] or sorted(ELF)
        pkgs = [("connmap", a) for a in arches] + [("luci-app-connmap", "all")]
    for pkg, arch in pkgs:
        ipks = [f for f in os.listdir(dist) if f.startswith(pkg + "_") and f.endswith("_%s.ipk" % arch)]
        if not c.check("%s %s: one .ipk in %s" % (pkg, arch, dist), len(ipks) == 1, str(ipks)):
            continue
        fields, files = check_ipk(c, os.path.join(dist, ipks[0]), pkg, arch)
        adir = os.path.join(dist, arch)
        apks = [f for f in os.listdir(adir) if f.startswith(pkg + "-") and f[len(pkg) + 1].isdigit()] \
            if os.path.isdir(adir) else []
        if c.check("%s %s: one .apk in %s" % (pkg, arch, adir), len(apks) == 1, str(apks)):
            check_apk(c, os.path.join(adir, apks[0]), pkg, arch, fields, files)
    print("packages: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
