# Reference values of R limma 3.54 for tests/features (run from this folder):
#
#     Rscript make_limma_reference.R
#
# Needs limma, statmod, MASS, splines, jsonlite and the Bioconductor data packages ALL and
# bladderbatch (Debian: r-bioc-limma r-bioc-all r-bioc-bladderbatch r-cran-jsonlite).
#
# Inputs are written as integers (expression x 1000, simulated values x 10000, counts as
# they are) and every computation below runs on exactly the values that were written, so
# Python reads the same doubles (integer / 1000 is the same IEEE number in R and NumPy).
# Outputs are written with 17 significant digits.
#
# Data sets (every case has at least 500 features):
# - ALL (real microarray, Chiaretti et al. 2004; RMA log2 expression, hgu95av2): 600 random
#   probes x the 125 samples whose sex is known; B- vs T-cell type and sex.
# - bladderbatch (real microarray, Dyrskjot et al. 2004): 600 random probes x 57 samples,
#   cancer status with processing batch as block.
# - simulated: weights (1-D, 2-D with missing values), duplicate spots, RNA-seq counts.

suppressPackageStartupMessages({
  library(limma)
  library(Biobase)
  library(ALL)
  library(bladderbatch)
  library(jsonlite)
})
stopifnot(packageVersion("limma") >= "3.54.0", packageVersion("limma") < "3.55.0")

fmt <- function(x) ifelse(is.na(x), "NaN", sprintf("%.17g", x))

write_table <- function(df, file) {
  con <- gzfile(file, "w")
  on.exit(close(con))
  out <- df
  for (j in seq_along(out)) if (is.double(out[[j]])) out[[j]] <- fmt(out[[j]])
  write.csv(out, con, row.names = FALSE, quote = TRUE)
}

write_matrix_int <- function(mat, file, ids) {
  df <- data.frame(id = ids, mat, check.names = FALSE)
  write_table(df, file)
}

# One row per feature: every per-feature field of an MArrayLM (matrices as field.j columns).
fit_table <- function(fit) {
  out <- data.frame(row.names = seq_len(nrow(fit$coefficients)))
  k <- ncol(fit$coefficients)
  for (field in c("coefficients", "stdev.unscaled", "t", "p.value", "lods")) {
    m <- fit[[field]]
    if (is.null(m)) next
    m <- as.matrix(m)
    for (j in seq_len(k)) out[[paste0(field, ".", j)]] <- as.double(m[, j])
  }
  for (field in c("sigma", "df.residual", "Amean", "s2.prior", "df.prior", "s2.post",
                  "df.total", "F", "F.p.value")) {
    v <- fit[[field]]
    if (is.null(v)) next
    out[[field]] <- as.double(rep_len(v, nrow(out)))
  }
  out
}

scalars <- list()

save_fit <- function(fit, name) {
  write_table(fit_table(fit), paste0(name, "_limma.csv.gz"))
  s <- list(coef_names = colnames(fit$coefficients))
  if (!is.null(fit$cov.coefficients)) s$cov_coefficients <- unname(fit$cov.coefficients)
  if (!is.null(fit$s2.prior) && length(fit$s2.prior) == 1) s$s2_prior <- fit$s2.prior
  if (!is.null(fit$df.prior) && length(fit$df.prior) == 1) s$df_prior <- fit$df.prior
  if (!is.null(fit$var.prior)) s$var_prior <- fit$var.prior
  if (!is.null(fit$treat.lfc)) s$treat_lfc <- fit$treat.lfc
  scalars[[name]] <<- s
}

# ---- ALL: real microarray ------------------------------------------------------------------
data(ALL)
set.seed(20261201)
keep <- !is.na(ALL$sex)
probes <- sort(sample(nrow(ALL), 600))
all_int <- round(exprs(ALL)[probes, keep] * 1000)
all_E <- all_int / 1000
all_samples <- data.frame(
  sample = colnames(all_E),
  BT = factor(substr(as.character(ALL$BT[keep]), 1, 1)),  # B or T cell
  sex = factor(as.character(ALL$sex[keep]))
)
write_matrix_int(all_int, "all_expression.csv.gz", rownames(all_E))
write.csv(all_samples, "all_samples.csv", row.names = FALSE)

# OLS with an additive design, default eBayes; topTable's BH adjustment on coefficient 2
design <- model.matrix(~ BT + sex, data = all_samples)
fit <- lmFit(all_E, design)
eb <- eBayes(fit)
save_fit(eb, "all_ols")
tt <- topTable(eb, coef = 2, number = Inf, sort.by = "none")
write_table(data.frame(adj.P.Val = tt$adj.P.Val), "all_ols_toptable.csv.gz")
scalars$all_ols$decide_tests_up_down <- unname(as.vector(summary(decideTests(eb))[c(1, 3), ]))

# trend, robust, trend + robust
save_fit(eBayes(fit, trend = TRUE), "all_trend")
save_fit(eBayes(fit, robust = TRUE), "all_robust")
save_fit(eBayes(fit, trend = TRUE, robust = TRUE), "all_trend_robust")

# Robust M-estimation (MASS::rlm, Huber), then eBayes
fit_rlm <- suppressWarnings(lmFit(all_E, design, method = "robust"))
save_fit(eBayes(fit_rlm), "all_mrlm")

# Cell means, contrasts, F-test over dependent contrasts, treat
group <- factor(paste(all_samples$BT, all_samples$sex, sep = "."))
design_g <- model.matrix(~ 0 + group)
colnames(design_g) <- levels(group)
fit_g <- lmFit(all_E, design_g)
cm <- makeContrasts(
  TvsB_F = T.F - B.F, TvsB_M = T.M - B.M, TvsB = (T.F + T.M) / 2 - (B.F + B.M) / 2,
  levels = design_g
)
write.csv(data.frame(level = rownames(cm), cm, check.names = FALSE), "all_contrasts.csv",
          row.names = FALSE)
fit_c <- contrasts.fit(fit_g, cm)
save_fit(eBayes(fit_c), "all_contrast")
save_fit(treat(fit_c, lfc = 0.3), "all_treat")

# Missing values: feature-wise NaN (some features with many, one with none left)
set.seed(7)
all_nan <- all_E
rows <- sample(600, 80)
for (i in rows) all_nan[i, sample(ncol(all_nan), sample(1:20, 1))] <- NA
all_nan[rows[1], ] <- NA                        # nothing observed
all_nan[rows[2], -(1:3)] <- NA                  # 3 observations for 3 coefficients: df 0
all_nan[rows[3], all_samples$BT == "T"] <- NA   # BT not estimable for this feature
write_table(data.frame(row = rows - 1L), "all_nan_rows.csv.gz")  # 0-based; NaN pattern:
write_table(data.frame(which(is.na(all_nan), arr.ind = TRUE) - 1L), "all_nan_cells.csv.gz")
fit_nan <- suppressWarnings(lmFit(all_nan, design))
save_fit(eBayes(fit_nan), "all_nan")
# trend needs a finite Amean: the feature with nothing observed is left out here
save_fit(eBayes(fit_nan[-rows[1], ], trend = TRUE), "all_nan_trend")

# ---- bladderbatch: real microarray with batches as blocks -----------------------------------
data(bladderdata)
set.seed(20261202)
probes <- sort(sample(nrow(bladderEset), 600))
bl_int <- round(exprs(bladderEset)[probes, ] * 1000)
bl_E <- bl_int / 1000
bl_samples <- data.frame(
  sample = colnames(bl_E),
  cancer = factor(as.character(bladderEset$cancer)),
  batch = as.integer(bladderEset$batch)
)
write_matrix_int(bl_int, "bladder_expression.csv.gz", rownames(bl_E))
write.csv(bl_samples, "bladder_samples.csv", row.names = FALSE)
design_b <- model.matrix(~ cancer, data = bl_samples)
dc <- duplicateCorrelation(bl_E, design_b, block = bl_samples$batch)
scalars$bladder_dupcor <- list(consensus = dc$consensus.correlation)
write_table(data.frame(atanh = dc$atanh.correlations), "bladder_dupcor.csv.gz")
fit_b <- lmFit(bl_E, design_b, block = bl_samples$batch, correlation = dc$consensus.correlation)
save_fit(eBayes(fit_b), "bladder_gls")
# the same GLS with 1-D weights and with a fixed correlation
w_arr <- round(seq(0.5, 2, length.out = ncol(bl_E)) * 1e4) / 1e4
write_table(data.frame(w = w_arr * 1e4), "bladder_weights.csv.gz")
fit_bw <- lmFit(bl_E, design_b, block = bl_samples$batch, correlation = 0.3, weights = w_arr)
save_fit(eBayes(fit_bw), "bladder_gls_weights")

# ---- simulated: weights -------------------------------------------------------------------
set.seed(20261203)
m <- 800
n <- 20
sim_samples <- data.frame(group = factor(rep(c("ctrl", "trt"), each = n / 2)),
                          x = round(rnorm(n) * 1e4) / 1e4)
design_s <- model.matrix(~ group + x, data = sim_samples)
sd_g <- sqrt(0.05 * rchisq(m, 4) / 4 + 0.01)
beta <- cbind(rnorm(m, 8, 2), ifelse(runif(m) < 0.1, rnorm(m, 0, 1.5), 0), rnorm(m, 0, 0.2))
w_arr <- round(runif(n, 0.3, 3) * 1e4) / 1e4
w_gene <- round(matrix(rgamma(m * n, shape = 4, rate = 4), m, n) * 1e4) / 1e4
w_gene[w_gene < 0.05] <- 0.05
noise <- matrix(rnorm(m * n), m, n) * sd_g
sim_int <- round((beta %*% t(design_s) + noise / sqrt(w_gene)) * 1e4)
sim_E <- sim_int / 1e4
write_matrix_int(sim_int, "sim_expression.csv.gz", sprintf("g%03d", 1:m))
write.csv(sim_samples, "sim_samples.csv", row.names = FALSE)
write_table(data.frame(w = w_arr * 1e4), "sim_array_weights.csv.gz")
write_matrix_int(round(w_gene * 1e4), "sim_weights.csv.gz", sprintf("g%03d", 1:m))
save_fit(eBayes(lmFit(sim_E, design_s, weights = w_arr)), "sim_weights1d")
sim_nan <- sim_E
sim_nan[cbind(sample(m, 60), sample(n, 60, replace = TRUE))] <- NA
write_table(data.frame(which(is.na(sim_nan), arr.ind = TRUE) - 1L), "sim_nan_cells.csv.gz")
save_fit(eBayes(lmFit(sim_nan, design_s, weights = w_gene)), "sim_weights2d")

# ---- simulated: duplicate spots (ndups = 2, spacing = 1) -----------------------------------
set.seed(20261204)
ngenes <- 600
narr <- 10
design_d <- cbind(Intercept = 1, trt = rep(0:1, each = narr / 2))
gene_eff <- rnorm(ngenes, 0, 0.5)
spot <- matrix(0, 2 * ngenes, narr)
for (g in 1:ngenes) {
  shared <- rnorm(narr, 0, 0.25)  # what the two spots of a gene share on one array
  for (d in 1:2) spot[2 * (g - 1) + d, ] <- 7 + gene_eff[g] * design_d[, 2] + shared +
    rnorm(narr, 0, 0.3)
}
dup_int <- round(spot * 1e4)
dup_E <- dup_int / 1e4
write_matrix_int(dup_int, "dups_expression.csv.gz", sprintf("s%04d", 1:(2 * ngenes)))
dcd <- duplicateCorrelation(dup_E, design_d, ndups = 2, spacing = 1)
scalars$dups_dupcor <- list(consensus = dcd$consensus.correlation)
fit_d <- lmFit(dup_E, design_d, ndups = 2, spacing = 1, correlation = dcd$consensus.correlation)
save_fit(eBayes(fit_d), "dups_gls")

# ---- simulated RNA-seq counts: voom ------------------------------------------------------
set.seed(20261205)
ngenes <- 1000
nsamp <- 12
voom_samples <- data.frame(group = factor(rep(c("A", "B"), each = nsamp / 2)))
design_v <- model.matrix(~ group, data = voom_samples)
base <- exp(rnorm(ngenes, 3, 2))
lfc <- ifelse(runif(ngenes) < 0.1, rnorm(ngenes, 0, 1.5), 0)
lib <- runif(nsamp, 0.5, 2)
mu <- outer(base, lib) * 2^(outer(lfc, design_v[, 2]))
counts <- matrix(rnbinom(ngenes * nsamp, mu = mu, size = 1 / 0.1), ngenes, nsamp)
counts[1:5, ] <- 0  # all-zero genes are left out of the trend
write_matrix_int(counts, "voom_counts.csv.gz", sprintf("g%04d", 1:ngenes))
write.csv(voom_samples, "voom_samples.csv", row.names = FALSE)
v <- voom(counts, design_v)
write_table(data.frame(v$E, check.names = FALSE), "voom_E.csv.gz")
write_table(data.frame(v$weights, check.names = FALSE), "voom_weights.csv.gz")
save_fit(eBayes(lmFit(v, design_v)), "voom_fit")

# JSON numbers from jsonlite carry at most 15 digits: doubles travel as "%.17g" strings.
enc <- function(x) {
  if (is.list(x)) return(lapply(x, enc))
  if (is.matrix(x) && is.double(x)) return(lapply(seq_len(nrow(x)), function(i) fmt(x[i, ])))
  if (is.double(x)) return(fmt(x))
  x
}
writeLines(toJSON(enc(scalars), auto_unbox = TRUE, pretty = TRUE), "limma_scalars.json")
writeLines(c(
  paste("R", R.version$major, R.version$minor),
  paste("limma", packageVersion("limma")),
  paste("statmod", packageVersion("statmod")),
  paste("MASS", packageVersion("MASS"))
), "versions.txt")
