#!/bin/bash
# scripts/package.sh — OpenWrt packages of connmap from already built binaries, into dist/.
#
# Makes, per architecture, connmap_<ver>_<arch>.ipk (opkg, OpenWrt <= 24.10) and
# connmap-<ver>.apk (APKv3, OpenWrt 25.12+; in dist/<arch>/), plus the arch-independent
# luci-app-connmap and connmap-geodb (when a database is there), laid out the way OpenWrt's
# include/package-pack.mk + scripts/ipkg-build / `apk mkpkg` lay them out. What goes where is
# read from the feed Makefiles (openwrt/*/Makefile): their Package/<name>/install defines are
# run here with OpenWrt's INSTALL_* commands (luci-app-connmap: luci.mk's layout), their
# postinst defines become postinst-pkg, so the feed build and this script install the same.
#   .ipk = gzip'd GNU tar of ./debian-binary ./data.tar.gz ./control.tar.gz
#   .apk = APKv3 (openwrt/tools/apkv3.py, or a real apk-tools 3 given as APK=/path/to/apk)
# usage: scripts/package.sh [ARCH...]      (default: every arch with build/cross/<arch>/connmap)
# environment:
#   CONNMAP_SRC       tree whose www/dist (connmap) and www/dist-luci (luci-app-connmap) are
#                     packaged (default: this repository)
#   CONNMAP_CROSS     built binaries (default <repo>/build/cross)
#   CONNMAP_DIST      output (default <repo>/dist)
#   CONNMAP_GEODB_DIR geo.mmdb (+ LICENSE.txt) for connmap-geodb (default <repo>/build/geodb)
#   CONNMAP_PACKAGES  which to make (default "connmap luci geodb")
#   SOURCE_DATE_EPOCH timestamps (default: the source tree's last commit)
# The generated scripts are literal text: their ${...} expand on the router.
# shellcheck disable=SC2016,SC2001
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # also when started as `sh FILE`
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=${CONNMAP_SRC:-$REPO}
CROSS=${CONNMAP_CROSS:-$REPO/build/cross}
DIST=${CONNMAP_DIST:-$REPO/dist}
GEODB_DIR=${CONNMAP_GEODB_DIR:-$REPO/build/geodb}
PACKAGES=${CONNMAP_PACKAGES:-connmap luci geodb}
OW=$REPO/openwrt
APKV3=${APK:-}

log() { printf 'package: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkvar() { sed -n "s/^$2:=//p" "$1" | head -1; }
# what connmap and connmap-geodb share (openwrt/connmap/connmap.mk): version, maintainer, page
SHARED=$OW/connmap/connmap.mk
VERSION="$(mkvar "$SHARED" PKG_VERSION)-r$(mkvar "$OW/connmap/Makefile" PKG_RELEASE)"
LUCI_VERSION="$(mkvar "$OW/luci-app-connmap/Makefile" PKG_VERSION)-r$(mkvar "$OW/luci-app-connmap/Makefile" PKG_RELEASE)"
GEODB_VERSION="$(mkvar "$SHARED" PKG_VERSION)-r$(mkvar "$OW/connmap-geodb/Makefile" PKG_RELEASE)"
MAINTAINER=$(mkvar "$SHARED" PKG_MAINTAINER)
URL=$(mkvar "$SHARED" CONNMAP_URL)
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$EPOCH
TAR=(tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$EPOCH")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/connmap-pkg.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- the scripts OpenWrt generates for every package (include/package-pack.mk) ------------
write_ipk_scripts() { # CONTROL dir
	cat > "$1/postinst" <<'S'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
S
	cat > "$1/prerm" <<'S'
#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
S
	chmod 0755 "$1/postinst" "$1/prerm"
}

write_apk_scripts() { # ADIR pkgname [postinst-pkg] [prerm-pkg]
	local adir=$1 pkg=$2 pinst=${3:-} prm=${4:-}
	{
		echo '#!/bin/sh'
		echo '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0'
		echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
		echo '. ${IPKG_INSTROOT}/lib/functions.sh'
		echo 'export root="${IPKG_INSTROOT}"'
		echo "export pkgname=\"$pkg\""
		echo 'add_group_and_user'
		echo 'default_postinst'
		[ ! -f "$pinst" ] || sed '/^\s*#!/d' "$pinst"
	} > "$adir/post-install"
	{
		echo '#!/bin/sh'
		echo 'export PKG_UPGRADE=1'
		sed '/^\s*#!/d' "$adir/post-install"
	} > "$adir/post-upgrade"
	{
		echo '#!/bin/sh'
		echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
		echo '. ${IPKG_INSTROOT}/lib/functions.sh'
		echo 'export root="${IPKG_INSTROOT}"'
		echo "export pkgname=\"$pkg\""
		echo 'default_prerm'
		[ ! -f "$prm" ] || sed '/^\s*#!/d' "$prm"
	} > "$adir/pre-deinstall"
}

# a define of a feed Makefile (e.g. Package/<name>/postinst) -> stdout, make's $$ turned into $
makefile_define() { # Makefile define-name
	awk -v d="define $2" '$0 == d {on=1; next} on && /^endef/ {exit} on {print}' "$1" | sed 's/\$\$/$/g'
}

# the Makefile's Package/<name>/postinst and prerm defines, as package-pack.mk writes them:
# DIR/postinst-pkg, DIR/prerm-pkg (only those the Makefile has)
pkg_scripts() { # Makefile pkg dir
	local kind text
	for kind in postinst prerm; do
		text=$(makefile_define "$1" "Package/$2/$kind")
		[ -n "$text" ] || continue
		printf '%s\n' "$text" > "$3/$kind-pkg"
		chmod 0755 "$3/$kind-pkg"
	done
}

# runs a feed Makefile's Package/<name>/install define, as OpenWrt's package-pack.mk does, with
# rules.mk's commands; $(1) = the staging dir, BUILD = what $(PKG_BUILD_DIR) stands for
run_install() { # Makefile pkg idir build-dir [PKG_INSTALL_DIR]
	local mk=$1 pkg=$2 idir=$3 build=$4 pinst=${5:-/nonexistent}
	local script
	script=$(makefile_define "$mk" "Package/$pkg/install" | sed \
		-e 's/^\t//' \
		-e 's/\$(INSTALL_DIR)/install -d -m0755/g' -e 's/\$(INSTALL_BIN)/install -m0755/g' \
		-e 's/\$(INSTALL_CONF)/install -m0600/g' -e 's/\$(INSTALL_DATA)/install -m0644/g' \
		-e 's/\$(CP)/cp -fpR/g' -e 's/\$(1)/"$IDIR"/g' -e 's/\$(PKG_BUILD_DIR)/"$BUILD"/g' \
		-e 's/\$(PKG_INSTALL_DIR)/"$PINST"/g' -e 's|\./files/|"$FILES"/|g')
	[ -n "$script" ] || die "no Package/$pkg/install in $mk"
	if printf '%s\n' "$script" | grep -q '\$('; then
		die "$mk: Package/$pkg/install uses a make variable this script does not know: $(printf '%s\n' "$script" | grep -o '\$([A-Za-z_]*)' | sort -u | tr '\n' ' ')"
	fi
	mkdir -p "$idir"
	IDIR=$idir BUILD=$build PINST=$pinst FILES=$(dirname "$mk")/files bash -euc "$script" \
		|| die "Package/$pkg/install of $mk failed"
}

# gzip of stdin to stdout. With zopfli (Debian's zopfli package; CONNMAP_ZOPFLI=0 turns it
# off): the same gzip format any gunzip reads (opkg's included), ~4 % smaller than gzip -9,
# which on a router's flash is worth the seconds it takes. Reproducible either way (no name,
# mtime 0).
gz() {
	if [ "${CONNMAP_ZOPFLI:-1}" = 1 ] && command -v zopfli >/dev/null; then
		local f
		f=$(mktemp "$WORK/gz.XXXXXX")
		cat > "$f"
		zopfli -c --i15 "$f"
		rm -f "$f"
	else
		gzip -9n
	fi
}

# --- .ipk, as scripts/ipkg-build makes it -------------------------------------------------
build_ipk() { # IDIR (with CONTROL/) destdir
	local idir=$1 dest=$2 t pkg ver arch size
	t=$(mktemp -d "$WORK/ipk.XXXXXX")
	pkg=$(sed -n 's/^Package: //p' "$idir/CONTROL/control")
	ver=$(sed -n 's/^Version: //p' "$idir/CONTROL/control")
	arch=$(sed -n 's/^Architecture: //p' "$idir/CONTROL/control")
	if [ -f "$idir/CONTROL/conffiles" ]; then
		local cf resolved=""
		while read -r cf; do
			[ -f "$idir$cf" ] && resolved+="$cf"$'\n'
		done < "$idir/CONTROL/conffiles"
		printf '%s' "$resolved" | LC_ALL=C sort > "$idir/CONTROL/conffiles"
		chmod 0644 "$idir/CONTROL/conffiles"
	fi
	(cd "$idir" && "${TAR[@]}" --exclude=./CONTROL -cpf - .) | gz > "$t/data.tar.gz"
	size=$(zcat < "$t/data.tar.gz" | wc -c)
	sed -i -e "s/^Installed-Size: .*/Installed-Size: $size/" "$idir/CONTROL/control"
	(cd "$idir/CONTROL" && "${TAR[@]}" -cf - .) | gz > "$t/control.tar.gz"
	echo "2.0" > "$t/debian-binary"
	chmod 0644 "$t/debian-binary" "$t/data.tar.gz" "$t/control.tar.gz"
	mkdir -p "$dest"
	# the outer layer too: its members are compressed already, but gzip -9 codes them in
	# Huffman blocks a little larger than stored ones, where zopfli does not (mipsel .ipk:
	# 520 bytes smaller, measured 6 Dec 2026)
	(cd "$t" && "${TAR[@]}" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gz > "$dest/${pkg}_${ver}_${arch}.ipk"
	echo "$dest/${pkg}_${ver}_${arch}.ipk"
}

# --- .apk, as package-pack.mk + apk mkpkg make it -------------------------------------------
build_apk() { # IDIR ADIR pkg version arch(all->noarch) depends description license origin dest [rusers]
	local idir=$1 adir=$2 pkg=$3 ver=$4 arch=$5 deps=$6 desc=$7 lic=$8 origin=$9 dest=${10} rusers=${11:-}
	local f csum
	mkdir -p "$idir/lib/apk/packages"
	[ -z "$rusers" ] || echo "$rusers" > "$idir/lib/apk/packages/$pkg.rusers"
	(cd "$idir" && find . -type f,l -printf "/%P\n" | LC_ALL=C sort) > "$WORK/$pkg.list"
	mv "$WORK/$pkg.list" "$idir/lib/apk/packages/$pkg.list"
	if [ -f "$adir/conffiles" ]; then
		mv -f "$adir/conffiles" "$idir/lib/apk/packages/$pkg.conffiles"
		while read -r f; do
			[ -f "$idir/$f" ] || continue
			csum=$(sha256sum "$idir/$f" | cut -d' ' -f1)
			echo "$f $csum" >> "$idir/lib/apk/packages/$pkg.conffiles_static"
		done < "$idir/lib/apk/packages/$pkg.conffiles"
	fi
	chmod 0644 "$idir"/lib/apk/packages/*
	find "$idir" -exec touch -h -d "@$EPOCH" {} +
	[ "$arch" = all ] && arch=noarch
	mkdir -p "$dest"
	local args=(mkpkg --info "name:$pkg" --info "version:$ver" --info "description:$desc"
		--info "arch:$arch" --info "license:$lic" --info "origin:$origin" --info "url:$URL"
		--info "maintainer:$MAINTAINER"
		--script "post-install:$adir/post-install" --script "post-upgrade:$adir/post-upgrade"
		--script "pre-deinstall:$adir/pre-deinstall"
		--info "depends:$deps" --files "$idir" --output "$dest/$pkg-$ver.apk")
	if [ -n "$APKV3" ]; then "$APKV3" "${args[@]}"; else python3 "$OW/tools/apkv3.py" "${args[@]}"; fi
	echo "$dest/$pkg-$ver.apk"
}

control() { # pkg ver depends source section arch description [require-user]
	printf 'Package: %s\nVersion: %s\n' "$1" "$2"
	[ -z "$3" ] || printf 'Depends: %s\n' "$3"
	printf 'Source: %s\nSourceName: %s\nLicense: %s\nSection: %s\n' "$4" "$1" "$LICENSE" "$5"
	[ -z "${8:-}" ] || printf 'Require-User: %s\n' "$8"
	printf 'SourceDateEpoch: %s\nURL: %s\nMaintainer: %s\nArchitecture: %s\nInstalled-Size: 0\n' \
		"$EPOCH" "$URL" "$MAINTAINER" "$6"
	printf 'Description: '
	echo "$7" | sed -e 's,^[[:space:]]*, ,g'
}

# --- connmap --------------------------------------------------------------------------------
WWW="$SRC/www/dist"
WWW_LUCI="$SRC/www/dist-luci"
ensure_www() {
	if { [ ! -d "$WWW" ] || [ ! -d "$WWW_LUCI" ]; } && [ -x "$SRC/www/build.sh" ]; then
		log "www/dist missing: running www/build.sh"
		(cd "$SRC" && ./www/build.sh) >&2 || die "www/build.sh failed"
	fi
	[ -d "$WWW" ] || log "warning: $WWW does not exist: the package has an empty /usr/share/connmap/www"
}

stage_connmap() { # arch idir
	local arch=$1 i=$2
	local pinst="$WORK/pkg-install-$arch"
	# what cargo install leaves in PKG_INSTALL_DIR
	mkdir -p "$pinst/bin"
	cp "$CROSS/$arch/connmap" "$pinst/bin/connmap"
	run_install "$OW/connmap/Makefile" connmap "$i" "$SRC" "$pinst"
	if [ -d "$WWW" ]; then
		# the page files as small as gzip can make them (the page build uses zlib -9)
		local g
		for g in "$i"/usr/share/connmap/www/*.gz; do
			[ -f "$g" ] || continue
			gunzip -c "$g" | gz > "$g.new" && mv "$g.new" "$g"
		done
		find "$i/usr/share/connmap/www" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
	fi
}

# a package's description and licence as its feed Makefile gives them
describe() { makefile_define "$1" "Package/$2/description" | sed 's/^[[:space:]]*//'; }
CONNMAP_DESC=$(describe "$OW/connmap/Makefile" connmap)
CONNMAP_LICENSE=$(mkvar "$OW/connmap/Makefile" PKG_LICENSE)

package_connmap() { # arch
	local arch=$1 i a deps="libc"
	[ -x "$CROSS/$arch/connmap" ] || die "no binary $CROSS/$arch/connmap (run scripts/cross-build.sh $arch)"
	# linked as OpenWrt links its packages (DEPENDS:=+libpcap): the firmware's musl and libpcap1
	grep -qx 'link=static' "$CROSS/$arch/info" 2>/dev/null || deps="libc, libpcap1"
	# ipk
	i="$WORK/connmap-$arch-ipk"
	stage_connmap "$arch" "$i"
	mkdir -p "$i/CONTROL"
	LICENSE=$CONNMAP_LICENSE control connmap "$VERSION" "$deps" feeds/connmap/connmap net "$arch" "$CONNMAP_DESC" \
		"connmap:connmap" > "$i/CONTROL/control"
	chmod 0644 "$i/CONTROL/control"
	echo /etc/config/connmap > "$i/CONTROL/conffiles"
	write_ipk_scripts "$i/CONTROL"
	pkg_scripts "$OW/connmap/Makefile" connmap "$i/CONTROL"
	build_ipk "$i" "$DIST"
	# apk
	i="$WORK/connmap-$arch-apk"
	a="$WORK/connmap-$arch-adir"
	stage_connmap "$arch" "$i"
	mkdir -p "$a"
	echo /etc/config/connmap > "$a/conffiles"
	pkg_scripts "$OW/connmap/Makefile" connmap "$a"
	write_apk_scripts "$a" connmap "$a/postinst-pkg" "$a/prerm-pkg"
	build_apk "$i" "$a" connmap "$VERSION" "$arch" "${deps//,/}" "${CONNMAP_DESC//$'\n'/ }" "$CONNMAP_LICENSE" \
		feeds/connmap/connmap "$DIST/$arch" "connmap:connmap"
}

# --- luci-app-connmap -------------------------------------------------------------------------
LUCI_DESC=$(mkvar "$OW/luci-app-connmap/Makefile" LUCI_TITLE)
LUCI_LICENSE=$(mkvar "$OW/luci-app-connmap/Makefile" PKG_LICENSE)
stage_luci() { # as luci.mk: htdocs/ to /www, root/ to /; plus the page's LuCI build
	local i=$1
	[ -f "$WWW_LUCI/index.html" ] || die "$WWW_LUCI is missing (www/build.sh makes it)"
	install -d -m0755 "$i/www" "$i/www/luci-static/resources/connmap"
	cp -R "$OW/luci-app-connmap/htdocs/." "$i/www/"
	# the views' marks of defaults, as the feed Makefile's Build/Prepare fills them
	sh "$SRC/scripts/fill-defaults.sh" "$SRC/src/defaults.conf" -i "$i"/www/luci-static/resources/view/connmap/*.js
	cp -R "$WWW_LUCI/." "$i/www/luci-static/resources/connmap/"
	cp -R "$OW/luci-app-connmap/root/." "$i/"
	find "$i" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
}
package_luci() {
	local i a
	i="$WORK/luci-ipk"
	stage_luci "$i"
	mkdir -p "$i/CONTROL"
	LICENSE=$LUCI_LICENSE control luci-app-connmap "$LUCI_VERSION" "libc, luci-base, connmap" \
		feeds/connmap/luci-app-connmap luci all "$LUCI_DESC" > "$i/CONTROL/control"
	chmod 0644 "$i/CONTROL/control"
	write_ipk_scripts "$i/CONTROL"
	pkg_scripts "$OW/luci-app-connmap/Makefile" luci-app-connmap "$i/CONTROL"
	build_ipk "$i" "$DIST"
	i="$WORK/luci-apk"
	a="$WORK/luci-adir"
	stage_luci "$i"
	mkdir -p "$a"
	pkg_scripts "$OW/luci-app-connmap/Makefile" luci-app-connmap "$a"
	write_apk_scripts "$a" luci-app-connmap "$a/postinst-pkg" "$a/prerm-pkg"
	build_apk "$i" "$a" luci-app-connmap "$LUCI_VERSION" all "libc luci-base connmap" "$LUCI_DESC" "$LUCI_LICENSE" \
		feeds/connmap/luci-app-connmap "$DIST/all"
}

# --- connmap-geodb ----------------------------------------------------------------------------
GEODB_DESC=$(describe "$OW/connmap-geodb/Makefile" connmap-geodb)
GEODB_LICENSE=$(mkvar "$OW/connmap-geodb/Makefile" PKG_LICENSE)
stage_geodb() {
	run_install "$OW/connmap-geodb/Makefile" connmap-geodb "$1" "$GEODB_DIR"
}
package_geodb() {
	local i a
	if [ ! -f "$GEODB_DIR/geo.mmdb" ]; then
		log "no $GEODB_DIR/geo.mmdb (scripts/make-geodb.sh makes it): connmap-geodb skipped"
		return 0
	fi
	i="$WORK/geodb-ipk"
	stage_geodb "$i"
	mkdir -p "$i/CONTROL"
	LICENSE=$GEODB_LICENSE control connmap-geodb "$GEODB_VERSION" "libc" feeds/connmap/connmap-geodb net all \
		"$GEODB_DESC" > "$i/CONTROL/control"
	chmod 0644 "$i/CONTROL/control"
	write_ipk_scripts "$i/CONTROL"
	pkg_scripts "$OW/connmap-geodb/Makefile" connmap-geodb "$i/CONTROL"
	build_ipk "$i" "$DIST"
	i="$WORK/geodb-apk"
	a="$WORK/geodb-adir"
	stage_geodb "$i"
	mkdir -p "$a"
	pkg_scripts "$OW/connmap-geodb/Makefile" connmap-geodb "$a"
	write_apk_scripts "$a" connmap-geodb "$a/postinst-pkg" "$a/prerm-pkg"
	build_apk "$i" "$a" connmap-geodb "$GEODB_VERSION" all "libc" "$GEODB_DESC" "$GEODB_LICENSE" \
		feeds/connmap/connmap-geodb "$DIST/all"
}

# --- main ---------------------------------------------------------------------------------------
if [ $# -eq 0 ]; then
	for d in "$CROSS"/*/; do
		[ -x "$d/connmap" ] && set -- "$@" "$(basename "$d")"
	done
fi
mkdir -p "$DIST"
for p in $PACKAGES; do
	case $p in
	connmap)
		ensure_www
		for arch in "$@"; do package_connmap "$arch"; done
		;;
	luci)
		ensure_www
		package_luci
		;;
	geodb) package_geodb ;;
	*) die "unknown package set '$p'" ;;
	esac
done
