package corpus

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Planted records where a sample was put.
type Planted struct {
	Sample
	Path string // slash path relative to the tree root, as the scanner reports it
	Kind string // source, syntax, notebook, minified, base64, archive, ignored, binary
}

var exts = []string{".py", ".go", ".js", ".yaml", ".env", ".properties", ".tf", ".sh", ".toml", ".rb", ".java", ".cfg"}

// fillerLines are ordinary code lines, some of which use the words the
// rules look for, so the keyword pre-filter has work to do.
var fillerLines = []string{
	"func (p *parser) next() token.Token { return p.scanner.Scan() }",
	"if err := validatePassword(pw); err != nil { return fmt.Errorf(\"validate: %w\", err) }",
	"tok := p.lex.Next()",
	"for i, tok := range tokens { out[i] = tok.String() }",
	"// The secret manager rotates credentials every 24 hours.",
	"secretName := fmt.Sprintf(\"%s/%s\", ns, name)",
	"const maxTokenLen = 4096",
	"log.Printf(\"fetched %d items in %s\", n, time.Since(start))",
	"result = [x * 2 for x in values if x > threshold]",
	"return &Client{baseURL: u, http: http.DefaultClient, retries: 3}",
	"apiKey := r.Header.Get(\"X-Api-Key\")",
	"password := os.Getenv(\"DB_PASSWORD\")",
	"def authenticate(user, password): return check(user, hash(password))",
	"const token = localStorage.getItem('token');",
	"    self.assertEqual(resp.status_code, 200)",
	"if len(buf) < headerSize { return nil, io.ErrUnexpectedEOF }",
	"x := make([]byte, 0, 1<<16)",
	"SELECT id, name, created_at FROM users WHERE org_id = $1 ORDER BY id",
	"    image: registry.internal/app:1.4.2",
	"    replicas: 3",
	"resource \"aws_s3_bucket\" \"logs\" { bucket = \"acme-logs\" }",
	"url := \"https://api.example.com/v2/items?page=\" + strconv.Itoa(page)",
	"key := cache.Key(req.Method, req.URL.Path)",
	"sum := sha256.Sum256(data)",
	"ctx, cancel := context.WithTimeout(ctx, 5*time.Second)",
	"defer cancel()",
	"export PATH=$HOME/bin:$PATH",
	"}",
	"",
}

func (g *Gen) filler(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(fillerLines[g.Intn(len(fillerLines))])
		b.WriteByte('\n')
	}
	return b.String()
}

func write(root, rel string, data []byte) error {
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func findSample(ss []Sample, rule string) Sample {
	for _, s := range ss {
		if s.Rule == rule {
			return s
		}
	}
	panic("corpus: no sample for " + rule)
}

// WriteTree writes a tree with every sample planted (in source files and
// configs, a notebook, minified JavaScript, base64 blobs and nested
// archives), every syntax's assignments (under conf/), near-miss files, a
// .gitignored file and a binary file. It returns what was planted;
// near-misses live under nearmiss/.
func WriteTree(root string, seed uint64) ([]Planted, error) {
	g := NewGen(seed + 1)
	ss := Samples(seed)
	var out []Planted
	for i, s := range ss {
		ext := exts[i%len(exts)]
		if s.Rule == "aws-secret-access-key-unlabelled" {
			ext = ".properties" // credible alone only in a configuration file
		}
		rel := fmt.Sprintf("src/%s/%s%s", s.Rule[:1], s.Rule, ext)
		content := g.filler(g.Intn(12)) + s.Text + "\n" + g.filler(g.Intn(12))
		if err := write(root, rel, []byte(content)); err != nil {
			return nil, err
		}
		out = append(out, Planted{Sample: s, Path: rel, Kind: "source"})
	}
	// notebook: code cells are JSON strings with escaped quotes
	nb := map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{}}
	var cells []any
	for _, r := range []string{"generic-password", "stripe-secret-key", "aws-access-key-id", "database-url-password"} {
		s := findSample(ss, r)
		cells = append(cells, map[string]any{"cell_type": "code", "metadata": map[string]any{}, "outputs": []any{},
			"source": []string{"import os\n", s.Text + "\n", "print('ok')\n"}})
		out = append(out, Planted{Sample: s, Path: "notebooks/analysis.ipynb", Kind: "notebook"})
	}
	nb["cells"] = cells
	var nbBuf bytes.Buffer
	enc := json.NewEncoder(&nbBuf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(nb); err != nil {
		return nil, err
	}
	b := nbBuf.Bytes()
	if err := write(root, "notebooks/analysis.ipynb", b); err != nil {
		return nil, err
	}
	// minified JavaScript: one long line
	var js strings.Builder
	js.WriteString("!function(e){\"use strict\";")
	for i := range 400 {
		fmt.Fprintf(&js, "var a%d=function(t){return t.token||e.n%d(t)};", i, i)
	}
	for _, r := range []string{"github-pat", "openai-api-key", "slack-webhook-url", "generic-password"} {
		s := findSample(ss, r)
		if r == "generic-password" {
			fmt.Fprintf(&js, "var cfg={password:\"%s\"};", s.Secret)
		} else {
			fmt.Fprintf(&js, "var k%s=\"%s\";", strings.ReplaceAll(r, "-", ""), s.Secret)
		}
		for i := range 100 {
			fmt.Fprintf(&js, "function f%d(n){return n*%d}", i, i)
		}
		out = append(out, Planted{Sample: s, Path: "web/app.min.js", Kind: "minified"})
	}
	js.WriteString("}(window);\n")
	if err := write(root, "web/app.min.js", []byte(js.String())); err != nil {
		return nil, err
	}
	// base64 blobs: a Kubernetes Secret
	var k8s strings.Builder
	k8s.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n")
	for i, r := range []string{"aws-secret-access-key", "database-url-password", "generic-password", "sendgrid-api-key"} {
		s := findSample(ss, r)
		fmt.Fprintf(&k8s, "  file%d: %s\n", i, base64.StdEncoding.EncodeToString([]byte(s.Text+"\n")))
		out = append(out, Planted{Sample: s, Path: "deploy/secret.yaml", Kind: "base64"})
	}
	if err := write(root, "deploy/secret.yaml", []byte(k8s.String())); err != nil {
		return nil, err
	}
	// nested archives: zip > tar.gz > jar > properties
	arch, planted, err := nestedArchive(ss)
	if err != nil {
		return nil, err
	}
	if err := write(root, "dist/bundle.zip", arch); err != nil {
		return nil, err
	}
	for _, p := range planted {
		p.Path = "dist/bundle.zip!" + p.Path
		out = append(out, p)
	}
	// a .gitignored file and a binary file
	ig := findSample(ss, "gitlab-pat")
	if err := write(root, ".gitignore", []byte("local/\n*.secret\n!keep.secret\n")); err != nil {
		return nil, err
	}
	if err := write(root, "local/dev.env", []byte(ig.Text+"\n")); err != nil {
		return nil, err
	}
	out = append(out, Planted{Sample: ig, Path: "local/dev.env", Kind: "ignored"})
	// an ELF header (64 bytes, mostly zeros) and then the credential
	bin := append(append([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1}, make([]byte, 57)...), findSample(ss, "stripe-secret-key").Text...)
	if err := write(root, "bin/tool.dat", bin); err != nil {
		return nil, err
	}
	out = append(out, Planted{Sample: findSample(ss, "stripe-secret-key"), Path: "bin/tool.dat", Kind: "binary"})
	// every syntax the generic rules read, in a file named like that
	// syntax's files, and its near-misses in another
	for _, sy := range Syntaxes(seed) {
		var b strings.Builder
		rel := "conf/" + sy.Name + "/" + sy.File
		for _, s := range sy.Samples {
			b.WriteString(s.Text + "\n")
			out = append(out, Planted{Sample: s, Path: rel, Kind: "syntax"})
		}
		if err := write(root, rel, []byte(b.String())); err != nil {
			return nil, err
		}
		if err := write(root, "nearmiss/syntax/"+sy.Name+"/"+sy.File, []byte(strings.Join(sy.NearMisses, "\n")+"\n")); err != nil {
			return nil, err
		}
	}
	// near-misses
	nm := NearMisses(seed)
	if err := write(root, "nearmiss/cases.txt", []byte(strings.Join(nm, "\n")+"\n")); err != nil {
		return nil, err
	}
	var one []string
	for _, l := range nm {
		if !strings.Contains(l, "\n") {
			one = append(one, l)
		}
	}
	if err := write(root, "nearmiss/cases.min.js", []byte(strings.Join(one, ";")+"\n")); err != nil {
		return nil, err
	}
	nbn := map[string]any{"cells": []any{map[string]any{"cell_type": "code", "source": one}}}
	b, _ = json.Marshal(nbn) // HTML escaping here is harmless
	if err := write(root, "nearmiss/cases.ipynb", b); err != nil {
		return nil, err
	}
	var blob strings.Builder
	for _, sy := range Syntaxes(seed) {
		for _, l := range sy.NearMisses {
			if !strings.Contains(l, "\n") && len(l) >= 12 {
				one = append(one, l)
			}
		}
	}
	for i, l := range one {
		fmt.Fprintf(&blob, "k%d: %s\n", i, base64.StdEncoding.EncodeToString([]byte(l)))
	}
	if err := write(root, "nearmiss/encoded.yaml", []byte(blob.String())); err != nil {
		return nil, err
	}
	return out, nil
}

// nestedArchive builds zip > tar.gz > jar > config.properties.
func nestedArchive(ss []Sample) ([]byte, []Planted, error) {
	s1 := findSample(ss, "anthropic-api-key")
	s2 := findSample(ss, "npm-token")
	jar, err := ZipOf(map[string][]byte{"META-INF/MANIFEST.MF": []byte("Manifest-Version: 1.0\n"), "config.properties": []byte(s1.Text + "\n")})
	if err != nil {
		return nil, nil, err
	}
	tgz, err := TarGzOf(map[string][]byte{"lib/app.jar": jar, "etc/.npmrc": []byte("//registry.npmjs.org/:_authToken=" + s2.Secret + "\n")})
	if err != nil {
		return nil, nil, err
	}
	outer, err := ZipOf(map[string][]byte{"README": []byte("bundle\n"), "pkg/release.tar.gz": tgz})
	if err != nil {
		return nil, nil, err
	}
	return outer, []Planted{
		{Sample: s1, Path: "pkg/release.tar.gz!lib/app.jar!config.properties", Kind: "archive"},
		{Sample: s2, Path: "pkg/release.tar.gz!etc/.npmrc", Kind: "archive"},
	}, nil
}

// ZipOf returns a zip archive of files (in name order).
func ZipOf(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[name]); err != nil {
			return nil, err
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// TarOf returns a tar archive of files; a nil value writes a whiteout-free
// empty file.
func TarOf(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

// TarGzOf returns a gzipped tar archive of files.
func TarGzOf(files map[string][]byte) ([]byte, error) {
	t, err := TarOf(files)
	if err != nil {
		return nil, err
	}
	return Gzip(t), nil
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// ImageLayers returns the layers of a test image: a base layer, a layer
// adding app/.env and app/config.yaml with credentials, and a layer
// deleting app/.env with a whiteout; plus the matching history.
func ImageLayers(seed uint64) (layers [][]byte, history []map[string]any, planted []Planted, err error) {
	g := NewGen(seed + 7)
	ss := Samples(seed)
	s1, s2 := findSample(ss, "stripe-secret-key"), findSample(ss, "aws-access-key-id")
	l1, err := TarOf(map[string][]byte{"etc/os-release": []byte("ID=alpine\n"), "usr/share/doc/readme": []byte(g.filler(20))})
	if err != nil {
		return nil, nil, nil, err
	}
	l2, err := TarOf(map[string][]byte{"app/.env": []byte(s1.Text + "\n"), "app/config.yaml": []byte(g.filler(3) + s2.Text + "\n")})
	if err != nil {
		return nil, nil, nil, err
	}
	l3, err := TarOf(map[string][]byte{"app/.wh..env": {}})
	if err != nil {
		return nil, nil, nil, err
	}
	history = []map[string]any{
		{"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
		{"created_by": "/bin/sh -c #(nop)  ENV APP=1", "empty_layer": true},
		{"created_by": "COPY app/ /app/ # buildkit"},
		{"created_by": "RUN /bin/sh -c rm /app/.env # buildkit"},
	}
	planted = []Planted{
		{Sample: s1, Path: "app/.env", Kind: "image"},
		{Sample: s2, Path: "app/config.yaml", Kind: "image"},
	}
	return [][]byte{l1, l2, l3}, history, planted, nil
}

// WriteDockerSave writes a docker save tarball (legacy layout) of the test
// image to path. The returned Planted Kind is "image"; layer 2 (index 1)
// holds them, with digest LayerDigests[1].
func WriteDockerSave(path string, seed uint64) ([]Planted, []string, error) {
	layers, hist, planted, err := ImageLayers(seed)
	if err != nil {
		return nil, nil, err
	}
	files := map[string][]byte{}
	var diffIDs, names []string
	for i, l := range layers {
		id := fmt.Sprintf("%064x", i+1)
		files[id+"/layer.tar"] = l
		names = append(names, id+"/layer.tar")
		diffIDs = append(diffIDs, digest(l))
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "history": hist, "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfgName := strings.TrimPrefix(digest(cfg), "sha256:") + ".json"
	files[cfgName] = cfg
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"corpus:latest"}, "Layers": names}})
	files["manifest.json"] = man
	t, err := TarOf(files)
	if err != nil {
		return nil, nil, err
	}
	return planted, diffIDs, os.WriteFile(path, t, 0o644)
}

// WriteOCILayout writes the test image as an OCI image layout directory
// with gzip-compressed layers. It returns the layer digests.
func WriteOCILayout(dir string, seed uint64) ([]Planted, []string, error) {
	layers, hist, planted, err := ImageLayers(seed)
	if err != nil {
		return nil, nil, err
	}
	blob := func(b []byte) (string, error) {
		d := digest(b)
		return d, write(dir, "blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	var descs []map[string]any
	var digests, diffIDs []string
	for _, l := range layers {
		gz := Gzip(l)
		d, err := blob(gz)
		if err != nil {
			return nil, nil, err
		}
		digests = append(digests, d)
		diffIDs = append(diffIDs, digest(l))
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(gz)})
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "history": hist, "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd, err := blob(cfg)
	if err != nil {
		return nil, nil, err
	}
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)}, "layers": descs})
	md, err := blob(man)
	if err != nil {
		return nil, nil, err
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man)}}})
	if err := write(dir, "index.json", idx); err != nil {
		return nil, nil, err
	}
	if err := write(dir, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, nil, err
	}
	return planted, digests, nil
}
